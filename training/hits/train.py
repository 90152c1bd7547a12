"""Training a hit classifier on a HitDataset: fresh DSP augmentation every epoch, early stop.

Features are computed by firmware.features.hit_features from windows cut by the firmware's own
cut_window, so the network sees in training exactly what the board will show it.
"""

import logging
from dataclasses import dataclass, field

import keras
import numpy as np
from tqdm import tqdm

from firmware.features import FeatureConfig, hit_features
from training.data.augment import AugmentConfig, augment, jitter_shifts
from training.data.dataset import UNLABELLED, DatasetError, HitDataset, cut_windows
from training.hits.model import DYNAMICS, CnnConfig, build_cnn, compile_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run."""

    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 3e-3
    patience: int = 8
    """Epochs without a better validation loss before stopping (best weights are kept)."""
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    """None trains on the clean windows."""
    cnn: CnnConfig = field(default_factory=CnnConfig)


@dataclass
class TrainResult:
    model: keras.Model
    """The trained model with every head (dynamics included); see model.inference_model."""
    tasks: tuple[str, ...]
    history: dict[str, list[float]]
    best_epoch: int


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
        contexts = augment(contexts, rng, augment_config, dataset.sample_rate_hz)
        shifts = jitter_shifts(len(dataset), augment_config.max_jitter_samples, rng)
    windows = cut_windows(contexts, dataset.onset_offset, features, shifts)
    return hit_features(windows, features)


def training_targets(dataset: HitDataset, tasks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Targets per output: class indices per task and the measured velocity for dynamics."""
    for task in tasks:
        unlabelled = int(np.sum(dataset.labels[task] == UNLABELLED))
        if unlabelled:
            raise DatasetError(f"task '{task}': {unlabelled} hits have no label; subset them out")
    targets = {task: dataset.labels[task] for task in tasks}
    targets[DYNAMICS] = dataset.velocity[:, None]
    return targets


def train_classifier(
    train: HitDataset,
    validation: HitDataset,
    tasks: tuple[str, ...],
    features: FeatureConfig,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
) -> TrainResult:
    """Train a CNN on train, early-stopping on validation loss (never on test data)."""
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    clean_train = dataset_features(train, features)
    validation_x = dataset_features(validation, features)
    train_y = training_targets(train, tasks)
    validation_y = training_targets(validation, tasks)
    model = build_cnn(
        clean_train.shape[1:],
        {task: len(train.tasks[task]) for task in tasks},
        clean_train.mean(axis=0),
        clean_train.std(axis=0) + 1e-3,
        config.cnn,
    )
    compile_classifier(model, tasks, config.learning_rate, config.cnn.dynamics_weight)
    history: dict[str, list[float]] = {}
    best_loss, best_epoch, best_weights = np.inf, 0, model.get_weights()
    epochs = tqdm(range(config.epochs), desc="training", unit="epoch", disable=not progress)
    for epoch in epochs:
        train_x = (
            dataset_features(train, features, rng, config.augment)
            if config.augment
            else clean_train
        )
        fit = model.fit(
            train_x, train_y, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=True
        )
        scores = model.evaluate(validation_x, validation_y, verbose=0, return_dict=True)
        for name, values in fit.history.items():
            history.setdefault(name, []).append(float(values[-1]))
        for name, value in scores.items():
            history.setdefault(f"val_{name}", []).append(float(value))
        accuracy = {task: scores.get(f"{task}_accuracy", np.nan) for task in tasks}
        epochs.set_postfix(
            loss=f"{scores['loss']:.3f}", **{t: f"{a:.3f}" for t, a in accuracy.items()}
        )
        if scores["loss"] < best_loss:
            best_loss, best_epoch, best_weights = scores["loss"], epoch, model.get_weights()
        elif epoch - best_epoch >= config.patience:
            log.info("early stop at epoch %d, best %d", epoch, best_epoch)
            break
    model.set_weights(best_weights)
    return TrainResult(model=model, tasks=tasks, history=history, best_epoch=best_epoch)
