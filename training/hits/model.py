"""Hit model architectures (Keras): a 1-D CNN over frequency with sensors as channels.

After Martelloni et al., "Real-time percussive technique recognition and embedding learning for
the acoustic guitar" (ISMIR 2023): three Conv1D + MaxPool stages over the log band spectrum of
the first 10 ms, a small dense trunk, a 2-D embedding and one softmax head per task.

What is learned explicitly and what implicitly:
- the first task (the hand part, for the guitar) is classified *from the 2-D embedding*: the
  plane is forced to hold its classes in separate regions, so a player can read it and map it
  to sound;
- a linear dynamics read-out from the same embedding (trained on the DSP-measured velocity)
  makes one direction of the plane order hits by how hard they were played: within a region,
  position along that direction is dynamics; what is left is nuance the network found itself;
- the other tasks (location) are classified from the trunk: they depend on per-sensor levels,
  which the embedding need not show.
The dynamics head is a training aid and is not exported.
"""

from dataclasses import dataclass

import keras
import numpy as np

from firmware.hit_model import EMBEDDING_DIMS, INPUT_NAME

EMBEDDING = "embedding"
DYNAMICS = "dynamics"


@dataclass(frozen=True)
class CnnConfig:
    """Size and regularisation of the CNN."""

    filters: tuple[int, ...] = (16, 24, 32)
    kernel_sizes: tuple[int, ...] = (5, 3, 3)
    dense_units: int = 48
    dropout: float = 0.2
    dynamics_weight: float = 0.5
    """Weight of the embedding's dynamics read-out loss relative to each classification loss."""


def build_cnn(
    input_shape: tuple[int, int],
    tasks: dict[str, int],
    feature_mean: np.ndarray,
    feature_std: np.ndarray,
    config: CnnConfig = CnnConfig(),
) -> keras.Model:
    """The trainable model: one softmax output per task and the dynamics read-out (the
    embedding is the layer named EMBEDDING, exported by inference_model).

    Args:
        input_shape: (n_bands, n_channels) of the features.
        tasks: task name -> number of classes; the first is read from the embedding.
        feature_mean, feature_std: per band and channel, float32 [n_bands, n_channels], from
            the training split only; baked into the model so the firmware feeds raw features.
    """
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    x = keras.layers.Normalization(axis=(1, 2), mean=feature_mean, variance=np.square(feature_std))(
        inputs
    )
    for filters, kernel_size in zip(config.filters, config.kernel_sizes, strict=True):
        x = keras.layers.Conv1D(filters, kernel_size, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(config.dropout)(x)
    trunk = keras.layers.Dense(config.dense_units, activation="relu", name="trunk")(x)
    embedding = keras.layers.Dense(EMBEDDING_DIMS, name=EMBEDDING)(trunk)
    outputs = {DYNAMICS: keras.layers.Dense(1, name=DYNAMICS)(embedding)}
    for i, (task, n_classes) in enumerate(tasks.items()):
        source = embedding if i == 0 else trunk
        outputs[task] = keras.layers.Dense(n_classes, activation="softmax", name=task)(source)
    return keras.Model(inputs, outputs, name="perc_cnn")


def compile_classifier(
    model: keras.Model, tasks: tuple[str, ...], learning_rate: float, dynamics_weight: float
) -> None:
    """Cross-entropy per task, MSE of the dynamics read-out; no loss on the embedding itself
    (it is shaped by the heads that read it)."""
    losses = {task: keras.losses.SparseCategoricalCrossentropy() for task in tasks}
    weights = {task: 1.0 for task in tasks}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={**losses, DYNAMICS: keras.losses.MeanSquaredError()},
        loss_weights={**weights, DYNAMICS: dynamics_weight},
        metrics={task: ["accuracy"] for task in tasks},
    )


def inference_model(model: keras.Model, tasks: tuple[str, ...]) -> keras.Model:
    """The exported part: features in; one probability vector per task and the embedding out."""
    return keras.Model(
        model.inputs,
        {name: model.get_layer(name).output for name in (*tasks, EMBEDDING)},
        name=f"{model.name}_inference",
    )
