"""Hit model architectures (Keras): a 1-D CNN over frequency with sensors as channels.

After Martelloni et al., "Real-time percussive technique recognition and embedding learning for
the acoustic guitar" (ISMIR 2023): three Conv1D + MaxPool stages over the log band spectrum of
the first 10 ms, a small dense trunk, and three heads.

What is learned explicitly and what implicitly:
- hand part is classified *from the 2-D embedding*: the plane is forced to hold the hand parts
  in separate regions, so a player can read it and map it to sound;
- a linear dynamics read-out from the same embedding (trained on the DSP-measured velocity)
  makes one direction of the plane order hits by how hard they were played: within a region,
  position along that direction is dynamics; what is left is nuance the network found itself;
- location is classified from the trunk: it depends on per-sensor levels, which the embedding
  need not show.
The dynamics head is a training aid and is not exported.
"""

from dataclasses import dataclass

import keras
import numpy as np

from firmware.hit_model import EMBEDDING_DIMS, INPUT_NAME


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
    n_bands: int,
    n_channels: int,
    n_hands: int,
    n_locations: int,
    feature_mean: np.ndarray,
    feature_std: np.ndarray,
    config: CnnConfig = CnnConfig(),
) -> keras.Model:
    """The trainable model: outputs hand, location, embedding and dynamics.

    Args:
        feature_mean, feature_std: per band and channel, float32 [n_bands, n_channels], from
            the training split only; baked into the model so the firmware feeds raw features.
    """
    inputs = keras.Input((n_bands, n_channels), name=INPUT_NAME)
    x = keras.layers.Normalization(
        axis=(1, 2), mean=feature_mean[None], variance=np.square(feature_std)[None]
    )(inputs)
    for filters, kernel_size in zip(config.filters, config.kernel_sizes, strict=True):
        x = keras.layers.Conv1D(filters, kernel_size, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(config.dropout)(x)
    trunk = keras.layers.Dense(config.dense_units, activation="relu", name="trunk")(x)
    embedding = keras.layers.Dense(EMBEDDING_DIMS, name="embedding")(trunk)
    hand = keras.layers.Dense(n_hands, activation="softmax", name="hand")(embedding)
    location = keras.layers.Dense(n_locations, activation="softmax", name="location")(trunk)
    dynamics = keras.layers.Dense(1, name="dynamics")(embedding)
    return keras.Model(
        inputs,
        {"hand": hand, "location": location, "embedding": embedding, "dynamics": dynamics},
        name="perc_cnn",
    )


def compile_cnn(model: keras.Model, learning_rate: float, config: CnnConfig = CnnConfig()) -> None:
    """Cross-entropy on both classes, MSE of the dynamics read-out; no loss on the embedding
    itself (it is shaped by the heads that read it)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={
            "hand": keras.losses.SparseCategoricalCrossentropy(),
            "location": keras.losses.SparseCategoricalCrossentropy(),
            "dynamics": keras.losses.MeanSquaredError(),
        },
        loss_weights={"hand": 1.0, "location": 1.0, "dynamics": config.dynamics_weight},
        metrics={"hand": ["accuracy"], "location": ["accuracy"]},
    )


def inference_model(model: keras.Model) -> keras.Model:
    """The exported part: features in; hand, location and embedding out."""
    return keras.Model(
        model.inputs,
        {name: model.get_layer(name).output for name in ("hand", "location", "embedding")},
        name=f"{model.name}_inference",
    )
