"""Training an envelope model: L1 on the operator levels, whole sequences from a zero state.

Sequences differ in length (a phrase of one short note to one of four long ones), so each epoch
shuffles them, sorts groups of a few batches by length and pads each batch only to its longest
sequence (rounded up to CHUNK_FRAMES); padded hops are masked out of the loss. A padded hop
comes after every real hop of its sequence and the GRU is causal, so padding never changes a
real hop's output.

Truncated back-propagation: a batch is run CHUNK_FRAMES hops at a time, one optimiser step per
chunk, the GRU's state at the end of a chunk fed into the next. The forward pass sees each
sequence whole from its zero state, as the board does; gradients stop at chunk boundaries.
On a CPU the cost of a step is mostly per hop of recurrence, not per sequence in the batch, so
short chunks of wide batches give several times more (and better) updates per minute than
whole sequences. One traced step serves every batch.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from firmware.voice import LEVELS_NAME, STATE_OUT_NAME
from training.voice.dataset import VoiceInputs
from training.voice.model import build_sequence_model

log = logging.getLogger(__name__)

CHUNK_FRAMES = 256
"""Hops per optimiser step (0.34 s at 750 hops/s)."""
SORT_GROUP_BATCHES = 8
"""Batches whose sequences are sorted by length together: less padding, still shuffled."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run."""

    state_size: int = 128
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 3e-3
    final_learning_rate: float = 1e-4
    """The learning rate falls from learning_rate to this along a cosine over the epochs, or
    over max_minutes if that comes first."""
    clip_norm: float = 1.0
    patience: int = 12
    """Epochs without a better validation L1 before stopping (the best weights are kept)."""
    max_minutes: float = 10.0
    """Stop after the epoch that passes this wall-clock time (the best weights are kept)."""
    seed: int = 0


@dataclass
class TrainResult:
    model: keras.Model
    """The sequence model with the weights of the best validation epoch."""
    history: dict[str, list[float]]
    """Per epoch: train_l1, val_l1, learning_rate, seconds."""
    best_epoch: int


def batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list:
    """Sequence indices per batch: shuffled and length-sorted within groups (rng given), or in
    length order (rng None, for validation). A list of int64 arrays."""
    order = np.argsort(lengths, kind="stable") if rng is None else rng.permutation(len(lengths))
    group = batch_size * SORT_GROUP_BATCHES
    chosen = []
    for first in range(0, len(order), group):
        members = order[first : first + group]
        members = members[np.argsort(lengths[members], kind="stable")]
        chosen += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    if rng is not None:
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    return chosen


def padded_batch(
    data: VoiceInputs, targets: np.ndarray, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs float32 [b, t, 2], targets [b, t, 6] and mask [b, t] (1 on real hops), with t
    the longest sequence rounded up to CHUNK_FRAMES."""
    lengths = data.lengths[indices]
    frames = int(math.ceil(lengths.max() / CHUNK_FRAMES) * CHUNK_FRAMES)
    x = np.zeros((len(indices), frames, data.inputs.shape[1]), np.float32)
    y = np.zeros((len(indices), frames, targets.shape[1]), np.float32)
    mask = np.zeros((len(indices), frames), np.float32)
    for row, index in enumerate(indices):
        rows = data.rows(int(index))
        count = rows.stop - rows.start
        x[row, :count] = data.inputs[rows]
        y[row, :count] = targets[rows]
        mask[row, :count] = 1.0
    return x, y, mask


def train_envelope_model(
    train: VoiceInputs,
    train_targets: np.ndarray,
    validation: VoiceInputs,
    validation_targets: np.ndarray,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    start_from: Path | None = None,
) -> TrainResult:
    """Train a sequence model; returns it with the best validation epoch's weights.

    Args:
        start_from: a trained sequence model (.keras) of the same state size whose weights
            the training starts from (fine-tuning: another patch's model already tracks key,
            velocity and time; only what differs between the patches is left to learn).
            None starts from scratch.
    """
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    active = train.inputs[np.any(train.inputs != 0.0, axis=1)]
    model = build_sequence_model(
        config.state_size, active.mean(axis=0), active.std(axis=0), config.seed
    )
    if start_from is not None:
        model.set_weights(keras.models.load_model(start_from).get_weights())
        log.info("starting from the weights of %s", start_from)
    optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.clip_norm)
    n_outputs = train_targets.shape[1]
    signature = (
        tf.TensorSpec((None, None, train.inputs.shape[1]), tf.float32),
        tf.TensorSpec((None, config.state_size), tf.float32),
        tf.TensorSpec((None, None, n_outputs), tf.float32),
        tf.TensorSpec((None, None), tf.float32),
    )

    @tf.function(input_signature=signature)
    def train_step(
        x: tf.Tensor, state: tf.Tensor, y: tf.Tensor, mask: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            outputs = model([x, state], training=True)
            error = tf.reduce_sum(tf.abs(outputs[LEVELS_NAME] - y) * mask[..., None])
            loss = error / (tf.reduce_sum(mask) * float(n_outputs))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return error, outputs[STATE_OUT_NAME]

    @tf.function(input_signature=signature)
    def error_sum(
        x: tf.Tensor, state: tf.Tensor, y: tf.Tensor, mask: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = model([x, state], training=False)
        error = tf.reduce_sum(tf.abs(outputs[LEVELS_NAME] - y) * mask[..., None])
        return error, outputs[STATE_OUT_NAME]

    def run_batch(step: Callable, x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
        """Chunk by chunk, the state threaded through; returns the summed absolute error."""
        state = tf.zeros((x.shape[0], config.state_size))
        total = 0.0
        for first in range(0, x.shape[1], CHUNK_FRAMES):
            chunk = slice(first, first + CHUNK_FRAMES)
            error, state = step(x[:, chunk], state, y[:, chunk], mask[:, chunk])
            total += float(error)
        return total

    validation_batches = [
        padded_batch(validation, validation_targets, indices)
        for indices in batches(validation.lengths, config.batch_size, None)
    ]
    validation_count = float(validation.inputs.shape[0] * validation_targets.shape[1])
    history: dict[str, list[float]] = {
        "train_l1": [],
        "val_l1": [],
        "learning_rate": [],
        "seconds": [],
    }
    best, best_epoch, best_weights = math.inf, -1, model.get_weights()
    started = time.monotonic()
    for epoch in range(config.epochs):
        progress_done = max(
            epoch / max(1, config.epochs - 1),
            (time.monotonic() - started) / (config.max_minutes * 60.0),
        )
        rate = config.final_learning_rate + 0.5 * (
            config.learning_rate - config.final_learning_rate
        ) * (1.0 + math.cos(math.pi * min(1.0, progress_done)))
        optimizer.learning_rate.assign(rate)
        epoch_batches = batches(train.lengths, config.batch_size, rng)
        error, count = 0.0, 0.0
        bar = tqdm(epoch_batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress)
        for indices in bar:
            x, y, mask = padded_batch(train, train_targets, indices)
            error += run_batch(train_step, x, y, mask)
            count += float(mask.sum()) * n_outputs
            bar.set_postfix(l1=f"{error / count:.2e}")
        train_l1 = error / count
        val_l1 = sum(run_batch(error_sum, *batch) for batch in validation_batches)
        val_l1 /= validation_count
        elapsed = time.monotonic() - started
        for key, value in zip(history, (train_l1, val_l1, rate, elapsed), strict=True):
            history[key].append(value)
        log.info(
            "epoch %d: train L1 %.2e, validation L1 %.2e, lr %.1e, %.0f s",
            epoch + 1, train_l1, val_l1, rate, elapsed,
        )  # fmt: skip
        if val_l1 < best:
            best, best_epoch, best_weights = val_l1, epoch, model.get_weights()
        elif epoch - best_epoch >= config.patience:
            log.info("no better validation L1 for %d epochs: stopping", config.patience)
            break
        if elapsed > config.max_minutes * 60.0:
            log.info("time limit of %.0f minutes reached: stopping", config.max_minutes)
            break
    model.set_weights(best_weights)
    return TrainResult(model=model, history=history, best_epoch=best_epoch)
