"""The losses of both model families, chosen by one config, and the compile step.

Kept at hand (LossConfig):
- classification per task: cross-entropy, optionally with label smoothing (targets are
  one-hot, so mixup's soft targets work too), or focal cross-entropy (down-weights hits the
  model already gets right: for classes that are easy on most kits and hard on a few);
- DYNAMICS: mean squared error of a linear read-out of the embedding against the DSP-measured
  velocity (both families; 0 switches it off): makes dynamics an explicit direction;
- RECONSTRUCTION and KL (VAE only): the model outputs them per hit; their loss is the output's
  value itself (output_value), weighted here.
"""

from dataclasses import dataclass

import keras

from training.hits.model import DYNAMICS
from training.hits.vae import KL, RECONSTRUCTION

CLASSIFICATION_LOSSES = ("crossentropy", "focal")


@dataclass(frozen=True)
class LossConfig:
    """Which losses, and their weights relative to each task's classification loss (1)."""

    classification: str = "crossentropy"
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    dynamics_weight: float = 0.5
    reconstruction_weight: float = 1.0
    kl_weight: float = 0.05

    def __post_init__(self) -> None:
        if self.classification not in CLASSIFICATION_LOSSES:
            raise ValueError(
                f"classification must be one of {CLASSIFICATION_LOSSES}, "
                f"got {self.classification!r}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


def output_value(y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
    """A loss that is the model's output itself (a per-hit loss computed in the graph); the
    target is ignored (zeros)."""
    del y_true
    return y_pred[:, 0]


def classification_loss(config: LossConfig) -> keras.losses.Loss:
    if config.classification == "focal":
        return keras.losses.CategoricalFocalCrossentropy(
            gamma=config.focal_gamma, label_smoothing=config.label_smoothing
        )
    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


STEPS_PER_EXECUTION = 16
"""Training batches run per call into the compiled graph. The models are so small that
Keras's per-step Python overhead, not arithmetic, set the pace. The batches and updates are
the same; only how many run per call changes. With the background epoch draw
(train.EpochBatches) it took the default's training from 337 s to 210 s
(docs/HIT_MODELS_LOG.md, "Rebuilding the default"). Only epoch-level callbacks are used, so
nothing waits on a per-step hook. Under a tf.distribute strategy it is 1: with several steps
per call, Keras 3 on TensorFlow 2.21 fails under MirroredStrategy ("You must feed a value for
placeholder tensor", two CPU replicas, tests/test_hits_cli.py)."""


def compile_model(
    model: keras.Model,
    tasks: tuple[str, ...],
    learning_rate: float,
    config: LossConfig,
    steps_per_execution: int = STEPS_PER_EXECUTION,
) -> None:
    """Adam, one classification loss per task (weight 1) and the auxiliary losses the model
    has outputs for, with their weights; accuracy per task."""
    losses = {task: classification_loss(config) for task in tasks}
    weights = {task: 1.0 for task in tasks}
    auxiliary = {
        DYNAMICS: (keras.losses.MeanSquaredError(), config.dynamics_weight),
        RECONSTRUCTION: (output_value, config.reconstruction_weight),
        KL: (output_value, config.kl_weight),
    }
    for name, (loss, weight) in auxiliary.items():
        if name in model.output_names:
            losses[name], weights[name] = loss, weight
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=losses,
        loss_weights=weights,
        metrics={task: [keras.metrics.CategoricalAccuracy(name="accuracy")] for task in tasks},
        steps_per_execution=steps_per_execution,
    )
