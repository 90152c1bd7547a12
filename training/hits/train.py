"""Training a hit model of either family on a HitDataset: fresh DSP augmentation every epoch,
class-balanced sampling and mixup on request, early stopping on the validation split (or a
fixed number of epochs where none is given).

Features are computed by firmware.features.hit_features from windows cut by the firmware's own
cut_window, so the network sees in training exactly what the board will show it. A
tf.distribute strategy (training/hits/distribute.py) may be given: the model is then built and
trained under it, each batch split across its replicas.
"""

import contextlib
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import keras
import numpy as np
from tqdm import tqdm

from firmware.features import FeatureConfig, hit_features
from training.data.augment import AugmentConfig, augment, jitter_shifts
from training.data.dataset import UNLABELLED, DatasetError, HitDataset, cut_windows
from training.hits.losses import STEPS_PER_EXECUTION, LossConfig, compile_model
from training.hits.model import (
    DYNAMICS,
    FAMILIES,
    CnnConfig,
    build_cnn,
    ensemble_model,
    normalisation_stats,
)
from training.hits.vae import KL, RECONSTRUCTION, VaeConfig, build_vae

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on besides its data."""

    family: str = "cnn"
    """"cnn" (PercCNN) or "vae" (PercVAE)."""
    epochs: int = 40
    batch_size: int = 64
    """Global batch: split across replicas under a distribution strategy."""
    learning_rate: float = 3e-3
    patience: int = 8
    """Epochs without a lower validation classification loss before stopping (the best
    weights are kept)."""
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    """Fresh DSP augmentation of every hit every epoch; None trains on the clean windows."""
    balanced: bool = False
    """Draw each epoch's hits with equal probability per class of the first task."""
    mixup_alpha: float = 0.0
    """Mix pairs of hits' features and targets with a Beta(alpha, alpha) weight; 0: off."""
    members: int = 1
    """Models trained alike from seeds seed, seed + 1, ...; more than one are exported as
    one ensemble (model.ensemble_model)."""
    cnn: CnnConfig = field(default_factory=CnnConfig)
    vae: VaeConfig = field(default_factory=VaeConfig)
    losses: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0, got {self.mixup_alpha}")
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {self.members}")


@dataclass
class TrainResult:
    model: keras.Model
    """The trained model with every output (training aids included), or the ensemble of
    several (inference outputs only); model.inference_model exports either."""
    tasks: tuple[str, ...]
    history: dict[str, list[float]]
    """Per epoch, of the first member."""
    best_epoch: int
    """The epoch (from 0) whose weights were kept, of the first member: the last one when
    there was no validation split."""


def dataset_features(
    dataset: HitDataset,
    features: FeatureConfig,
    rng: np.random.Generator | None = None,
    augment_config: AugmentConfig | None = None,
) -> np.ndarray:
    """Features of every hit, float32 [n, n_bands, 6]: clean, or freshly augmented when rng
    and augment_config are given (DSP transforms on the context, then onset jitter)."""
    contexts, shifts = dataset.contexts, None
    if rng is not None and augment_config is not None:
        contexts = augment(
            contexts, rng, augment_config, dataset.sample_rate_hz, dataset.onset_offset
        )
        shifts = jitter_shifts(len(dataset), augment_config.max_jitter_samples, rng)
    windows = cut_windows(contexts, dataset.onset_offset, features, shifts)
    return hit_features(windows, features)


def training_targets(
    dataset: HitDataset, tasks: tuple[str, ...], output_names: list[str]
) -> dict[str, np.ndarray]:
    """Targets per model output, float32 [n, ...]: one-hot classes per task, the measured
    velocity for the dynamics read-out, zeros for outputs that are losses themselves.

    Raises:
        DatasetError: a task with unlabelled hits (subset them out first).
    """
    targets = {}
    for task in tasks:
        labels = dataset.labels[task]
        unlabelled = int(np.sum(labels == UNLABELLED))
        if unlabelled:
            raise DatasetError(f"task '{task}': {unlabelled} hits have no label; subset them out")
        targets[task] = np.eye(len(dataset.tasks[task]), dtype=np.float32)[labels]
    for name in output_names:
        if name == DYNAMICS:
            targets[name] = dataset.velocity[:, None].astype(np.float32)
        elif name in (RECONSTRUCTION, KL):
            targets[name] = np.zeros((len(dataset), 1), dtype=np.float32)
    return targets


class EpochBatches(keras.utils.PyDataset):
    """One epoch of training batches, drawn afresh after every epoch: augmentation, then
    class-balanced or plain shuffled order, then mixup.

    The next epoch is drawn in a background thread while the model trains on this one: the
    draw (DSP augmentation and features, numpy that releases the GIL) costs a good part of
    an epoch of training these small models, and drawn in line it left a core idle while
    Keras waited. Only that thread uses rng, one epoch after the other, so the epochs
    are the same as if they were drawn in line.
    """

    def __init__(
        self,
        dataset: HitDataset,
        features: FeatureConfig,
        targets: dict[str, np.ndarray],
        config: TrainConfig,
        balance_labels: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        super().__init__()
        self.dataset, self.features, self.targets = dataset, features, targets
        self.config, self.rng = config, rng
        counts = np.bincount(balance_labels)
        weights = 1.0 / counts[balance_labels]
        self.balance_p = weights / weights.sum()
        self.drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epoch-draw")
        self.next_epoch = self.drawer.submit(self._draw)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.config.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        chosen = slice(index * self.config.batch_size, (index + 1) * self.config.batch_size)
        return self.x[chosen], {name: y[chosen] for name, y in self.y.items()}

    def on_epoch_end(self) -> None:
        self.x, self.y = self.next_epoch.result()
        self.next_epoch = self.drawer.submit(self._draw)

    def close(self) -> None:
        """Stop drawing: the epoch being drawn is finished and dropped."""
        self.drawer.shutdown(wait=True, cancel_futures=True)

    def _draw(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n, rng = len(self.dataset), self.rng
        x = dataset_features(self.dataset, self.features, rng, self.config.augment)
        order = rng.choice(n, n, p=self.balance_p) if self.config.balanced else rng.permutation(n)
        x, y = x[order], {name: y[order] for name, y in self.targets.items()}
        if self.config.mixup_alpha > 0:
            weight = rng.beta(self.config.mixup_alpha, self.config.mixup_alpha, n)
            weight = weight.astype(np.float32)[:, None]
            partner = rng.permutation(n)
            x = _mix(x, partner, weight[:, :, None])
            y = {name: _mix(values, partner, weight) for name, values in y.items()}
        return x, y


def _mix(values: np.ndarray, partner: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return weight * values + (1.0 - weight) * values[partner]


class BestWeights(keras.callbacks.Callback):
    """Early stopping on the summed validation loss of the classification tasks (the
    auxiliary losses are aids, not the goal); the best epoch's weights are restored at the
    end, whether it stopped early or not."""

    def __init__(self, tasks: tuple[str, ...], patience: int) -> None:
        super().__init__()
        self.tasks, self.patience = tasks, patience
        self.best_loss, self.best_epoch, self.best_weights = np.inf, 0, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = sum((logs or {})[f"val_{task}_loss"] for task in self.tasks)
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_weights = self.model.get_weights()
        elif epoch - self.best_epoch >= self.patience:
            log.info("early stop at epoch %d, best %d", epoch, self.best_epoch)
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class Progress(keras.callbacks.Callback):
    """One tqdm bar over epochs, with the validation loss and accuracy per task (the training
    ones where there is no validation split)."""

    def __init__(self, tasks: tuple[str, ...], epochs: int, enabled: bool) -> None:
        super().__init__()
        self.tasks = tasks
        self.bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not enabled)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        prefix = "val_" if "val_loss" in logs else ""
        shown = {t: f"{logs.get(f'{prefix}{t}_accuracy', np.nan):.3f}" for t in self.tasks}
        self.bar.set_postfix({f"{prefix}loss": f"{logs.get(f'{prefix}loss', np.nan):.3f}", **shown})
        self.bar.update()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()


def build_model(
    config: TrainConfig, clean_features: np.ndarray, class_counts: dict[str, int]
) -> keras.Model:
    """A fresh model of config.family, standardised with clean_features' statistics."""
    encoder_config = config.cnn.encoder if config.family == "cnn" else config.vae.encoder
    mean, std = normalisation_stats(clean_features, encoder_config)
    builder = build_cnn if config.family == "cnn" else build_vae
    family_config = config.cnn if config.family == "cnn" else config.vae
    return builder(clean_features.shape[1:], class_counts, mean, std, family_config)


def train_classifier(
    train: HitDataset,
    validation: HitDataset | None,
    tasks: tuple[str, ...],
    features: FeatureConfig,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    strategy=None,
) -> TrainResult:
    """Train a model (or config.members of them) on train, early-stopping on validation
    (never on test data); with no validation, for config.epochs epochs, keeping the last
    weights.

    Args:
        tasks: the dataset tasks to learn, in output order; the first is read from the
            embedding (and drives class-balanced sampling).
        strategy: a tf.distribute.Strategy to build and train under, or None.
    """
    results = []
    for seed in range(config.seed, config.seed + config.members):
        member = replace(config, seed=seed)
        results.append(_train_one(train, validation, tasks, features, member, progress, strategy))
    if config.members == 1:
        return results[0]
    model = ensemble_model([result.model for result in results], tasks)
    return replace(results[0], model=model)


def _train_one(
    train: HitDataset,
    validation: HitDataset | None,
    tasks: tuple[str, ...],
    features: FeatureConfig,
    config: TrainConfig,
    progress: bool,
    strategy,
) -> TrainResult:
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    clean_train = dataset_features(train, features)
    class_counts = {task: len(train.tasks[task]) for task in tasks}
    with contextlib.nullcontext() if strategy is None else strategy.scope():
        model = build_model(config, clean_train, class_counts)
        compile_model(
            model,
            tasks,
            config.learning_rate,
            config.losses,
            steps_per_execution=STEPS_PER_EXECUTION if strategy is None else 1,
        )
    batches = EpochBatches(
        train,
        features,
        training_targets(train, tasks, model.output_names),
        config,
        train.labels[tasks[0]],
        rng,
    )
    validation_data, best = None, None
    if validation is not None:
        validation_data = (
            dataset_features(validation, features),
            training_targets(validation, tasks, model.output_names),
        )
        best = BestWeights(tasks, config.patience)
    callbacks = [c for c in (best, Progress(tasks, config.epochs, progress)) if c is not None]
    try:
        fit = model.fit(
            batches,
            epochs=config.epochs,
            validation_data=validation_data,
            validation_batch_size=max(config.batch_size, 256),
            callbacks=callbacks,
            verbose=0,
        )
    finally:
        batches.close()
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    kept_epoch = best.best_epoch if best is not None else config.epochs - 1
    return TrainResult(model=model, tasks=tasks, history=history, best_epoch=kept_epoch)
