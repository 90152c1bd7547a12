"""Training an envelope model: a loss on the operator levels (training/voice/loss.py), whole
sequences from a zero state.

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
from training.voice.loss import LOSSES
from training.voice.model import build_sequence_model

log = logging.getLogger(__name__)

CHUNK_FRAMES = 256
"""Hops per optimiser step (0.34 s at 750 hops/s)."""
SORT_GROUP_BATCHES = 8
"""Batches whose sequences are sorted by length together: less padding, still shuffled."""
LOG_FLOOR = 1e-7
"""Levels are floored here before the log of the render loss (padded hops hold 0)."""


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
    loss: str = "l1"
    """One of training.voice.loss.LOSSES; "render" needs the per-hop weights."""

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: expected one of {', '.join(LOSSES)}")


@dataclass
class TrainResult:
    model: keras.Model
    """The sequence model with the weights of the best validation epoch."""
    history: dict[str, list[float]]
    """Per epoch: train_loss, val_loss, val_l1, learning_rate, seconds."""
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
    data: VoiceInputs, targets: np.ndarray, weights: np.ndarray | None, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs float32 [b, t, n_inputs], targets [b, t, 6], loss weights [b, t, 6] (the given
    weights, or 1; 0 on padding) and mask [b, t] (1 on real hops), with t the longest
    sequence rounded up to CHUNK_FRAMES."""
    lengths = data.lengths[indices]
    frames = int(math.ceil(lengths.max() / CHUNK_FRAMES) * CHUNK_FRAMES)
    x = np.zeros((len(indices), frames, data.inputs.shape[1]), np.float32)
    y = np.zeros((len(indices), frames, targets.shape[1]), np.float32)
    w = np.zeros_like(y)
    mask = np.zeros((len(indices), frames), np.float32)
    for row, index in enumerate(indices):
        rows = data.rows(int(index))
        count = rows.stop - rows.start
        x[row, :count] = data.inputs[rows]
        y[row, :count] = targets[rows]
        w[row, :count] = 1.0 if weights is None else weights[rows]
        mask[row, :count] = 1.0
    return x, y, w, mask


def train_envelope_model(
    train: VoiceInputs,
    train_targets: np.ndarray,
    validation: VoiceInputs,
    validation_targets: np.ndarray,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    start_from: Path | None = None,
    train_weights: np.ndarray | None = None,
    validation_weights: np.ndarray | None = None,
) -> TrainResult:
    """Train a sequence model; returns it with the best validation epoch's weights.

    Args:
        train_weights, validation_weights: per-hop loss weights, float32 [frames, 6]
            (training.voice.loss.render_weights), needed by the "render" loss; ignored by "l1".
        start_from: a trained sequence model (.keras) of the same shape whose weights the
            training starts from (fine-tuning: another patch's model already reads key,
            velocity and age; only what differs between the patches is left to learn).
            None starts from scratch.
    """
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    render = config.loss == "render"
    if render and (train_weights is None or validation_weights is None):
        raise ValueError("the render loss needs train_weights and validation_weights")
    if render:
        scale = float(train_weights.mean())  # type: ignore[union-attr]
        train_weights = train_weights / scale  # type: ignore[operator]
        validation_weights = validation_weights / scale  # type: ignore[operator]
    else:
        train_weights = validation_weights = None
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
        tf.TensorSpec((None, None, n_outputs), tf.float32),
        tf.TensorSpec((None, None), tf.float32),
    )

    def errors(levels: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(summed weighted loss error, summed absolute level error) of a chunk."""
        absolute = tf.abs(levels - y)
        if render:
            floor = tf.constant(LOG_FLOOR)
            error = tf.abs(
                tf.math.log(tf.maximum(levels, floor)) - tf.math.log(tf.maximum(y, floor))
            )
        else:
            error = absolute
        mask = tf.cast(w > 0.0, tf.float32) if render else w
        return tf.reduce_sum(error * w), tf.reduce_sum(absolute * mask)

    @tf.function(input_signature=signature)
    def train_step(
        x: tf.Tensor, state: tf.Tensor, y: tf.Tensor, w: tf.Tensor, mask: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            outputs = model([x, state], training=True)
            error, absolute = errors(outputs[LEVELS_NAME], y, w)
            loss = error / (tf.reduce_sum(mask) * float(n_outputs))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return error, absolute, outputs[STATE_OUT_NAME]

    @tf.function(input_signature=signature)
    def error_sums(
        x: tf.Tensor, state: tf.Tensor, y: tf.Tensor, w: tf.Tensor, mask: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        outputs = model([x, state], training=False)
        error, absolute = errors(outputs[LEVELS_NAME], y, w)
        return error, absolute, outputs[STATE_OUT_NAME]

    def run_batch(
        step: Callable, x: np.ndarray, y: np.ndarray, w: np.ndarray, mask: np.ndarray
    ) -> tuple[float, float]:
        """Chunk by chunk, the state threaded through; returns the summed loss error and the
        summed absolute level error."""
        state = tf.zeros((x.shape[0], config.state_size))
        total, absolute_total = 0.0, 0.0
        for first in range(0, x.shape[1], CHUNK_FRAMES):
            chunk = slice(first, first + CHUNK_FRAMES)
            error, absolute, state = step(
                x[:, chunk], state, y[:, chunk], w[:, chunk], mask[:, chunk]
            )
            total += float(error)
            absolute_total += float(absolute)
        return total, absolute_total

    validation_batches = [
        padded_batch(validation, validation_targets, validation_weights, indices)
        for indices in batches(validation.lengths, config.batch_size, None)
    ]
    validation_count = float(validation.inputs.shape[0] * validation_targets.shape[1])
    history: dict[str, list[float]] = {
        "train_loss": [],
        "val_loss": [],
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
            x, y, w, mask = padded_batch(train, train_targets, train_weights, indices)
            error += run_batch(train_step, x, y, w, mask)[0]
            count += float(mask.sum()) * n_outputs
            bar.set_postfix(loss=f"{error / count:.2e}")
        train_loss = error / count
        sums = [run_batch(error_sums, *batch) for batch in validation_batches]
        val_loss = sum(loss for loss, _ in sums) / validation_count
        val_l1 = sum(absolute for _, absolute in sums) / validation_count
        elapsed = time.monotonic() - started
        for key, value in zip(history, (train_loss, val_loss, val_l1, rate, elapsed), strict=True):
            history[key].append(value)
        log.info(
            "epoch %d: train loss %.2e, validation loss %.2e, L1 %.2e, lr %.1e, %.0f s",
            epoch + 1, train_loss, val_loss, val_l1, rate, elapsed,
        )  # fmt: skip
        if val_loss < best:
            best, best_epoch, best_weights = val_loss, epoch, model.get_weights()
        elif epoch - best_epoch >= config.patience:
            log.info("no better validation loss for %d epochs: stopping", config.patience)
            break
        if elapsed > config.max_minutes * 60.0:
            log.info("time limit of %.0f minutes reached: stopping", config.max_minutes)
            break
    model.set_weights(best_weights)
    return TrainResult(model=model, history=history, best_epoch=best_epoch)
