"""Hit model architectures (Keras): what the two families share, and the 1-D CNN ("PercCNN").

After Martelloni et al., "Real-time percussive technique recognition and embedding learning for
the acoustic guitar" (ISMIR 2023). Both families read the log band spectrum of the first 10 ms
(firmware.features.hit_features, float32 [n_bands, channels]) through the same input stage and
convolutional encoder: three Conv1D + MaxPool stages over frequency with sensors as channels,
then a small dense trunk. They differ in how the 2-D embedding is made (training/hits/vae.py for
the VAE). Every model names its outputs after its tasks, plus EMBEDDING, so that one export path
(inference_model) serves both.

The input stage:
- level normalisation (optional, on by default): each hit's mean log level over bands and piezo
  channels is subtracted from the piezo channels (the pickup's own mean from the pickup), so
  the convolutions see spectral *shape* and inter-sensor differences, never the absolute level,
  which differs between kits, preamps and players by tens of dB. Optionally the removed level
  enters the dense trunk as one scalar, so that what depends on loudness (dynamics) can still
  be learned from it, separately from timbre;
- standardisation per band and channel with statistics of the training split, baked into the
  model (the firmware feeds raw features), clipped at +-4 standard deviations for int8's sake.

The CNN (what is learned explicitly and what implicitly):
- the first task (the hand part, for the guitar) is classified *from the 2-D embedding*: the
  plane is forced to hold its classes in separate regions, so a player can read it and map it
  to sound (EncoderConfig.first_task_input = "trunk" lifts this where a plane is too narrow
  for classes that shift between recordings, as on unseen drum kits);
- a linear dynamics read-out from the same embedding (trained on the DSP-measured velocity)
  makes one direction of the plane order hits by how hard they were played; what is left is
  nuance the network found itself;
- the other tasks (location) are classified from the trunk: they depend on per-sensor levels,
  which the embedding need not show.
The dynamics head is a training aid and is not exported.
"""

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from firmware.hit_model import EMBEDDING_DIMS, INPUT_NAME
from firmware.layout import N_PIEZOS

EMBEDDING = "embedding"
DYNAMICS = "dynamics"
FAMILIES = ("cnn", "vae")
FIRST_TASK_INPUTS = ("embedding", "trunk")


@dataclass(frozen=True)
class EncoderConfig:
    """Input stage, convolutional encoder and trunk, shared by both families."""

    filters: tuple[int, ...] = (16, 24, 32)
    kernel_sizes: tuple[int, ...] = (5, 3, 3)
    dense_units: int = 48
    dropout: float = 0.2
    level_norm: bool = True
    """Subtract each hit's mean log level (over bands and piezos) before the convolutions."""
    level_input: bool = True
    """With level_norm: feed the removed level to the dense trunk as one more input."""
    batch_norm: bool = False
    """Batch normalisation after each convolution (folded into it on export)."""
    clip_sigmas: float = 4.0
    """Standardised features are clipped to +-this many standard deviations (0: not at all):
    the rare outlier no longer sets the int8 range every other value is rounded to."""
    input_noise: float = 0.0
    """Standard deviation (log10 units) of Gaussian noise added to the raw features while
    training: 0.01 is about the rounding of the int8 input (a step of ~0.024 over the
    features' 6-decade range), so the model learns not to hang decisions on it."""
    first_task_input: str = "embedding"
    """What the first task's softmax reads: "embedding" (its classes become regions of the
    2-D plane, which a player can read and map) or "trunk" (like the other tasks; the plane
    then holds only what the family's other losses ask of it). A linear softmax of two numbers
    leaves little room for classes that move between recordings: on unseen drum kits a
    single CNN scored 0.35-0.40 macro-F1 through the plane and 0.48-0.53 from the trunk in
    four runs before the synthesised kits, and the drum recipe's ensembles still score lower
    through the plane (docs/HIT_MODELS.md, "Where the first task is read")."""

    def __post_init__(self) -> None:
        if len(self.filters) != len(self.kernel_sizes):
            raise ValueError("filters and kernel_sizes must have the same length")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.first_task_input not in FIRST_TASK_INPUTS:
            raise ValueError(
                f"first_task_input must be one of {FIRST_TASK_INPUTS}, "
                f"got {self.first_task_input!r}"
            )


def remove_level(features: np.ndarray) -> np.ndarray:
    """Features float32 [n, n_bands, channels] less each hit's mean log level over bands and
    piezo channels (piezos) and each other channel's own mean over bands: what the input stage
    does, in numpy, for statistics taken outside the model."""
    piezos, others = features[:, :, :N_PIEZOS], features[:, :, N_PIEZOS:]
    return np.concatenate(
        [
            piezos - piezos.mean(axis=(1, 2), keepdims=True),
            others - others.mean(axis=1, keepdims=True),
        ],
        axis=2,
    )


def normalisation_stats(
    features: np.ndarray, config: EncoderConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per band and channel, float32 [n_bands, channels] each, of
    the training features as the standardisation layer will see them (level removed if the
    config removes it). A constant channel (a silent pickup) gets a unit deviation."""
    if config.level_norm:
        features = remove_level(features)
    std = features.std(axis=0)
    return features.mean(axis=0), np.where(std > 1e-3, std, 1.0).astype(np.float32)


def input_stage(
    inputs: keras.KerasTensor, mean: np.ndarray, std: np.ndarray, config: EncoderConfig
) -> tuple[keras.KerasTensor, keras.KerasTensor | None]:
    """Level removal and standardisation of the raw features.

    Returns:
        (standardised features [batch, n_bands, channels], the removed piezo level
        [batch, 1] for the trunk, or None).
    """
    x, level = inputs, None
    if config.input_noise > 0:
        x = keras.layers.GaussianNoise(config.input_noise, name="input_noise")(x)
    if config.level_norm:
        piezos, others = x[:, :, :N_PIEZOS], x[:, :, N_PIEZOS:]
        piezo_level = ops.mean(piezos, axis=(1, 2), keepdims=True)
        others_level = ops.mean(others, axis=1, keepdims=True)
        x = ops.concatenate([piezos - piezo_level, others - others_level], axis=2)
        if config.level_input:
            level = ops.reshape(piezo_level, (-1, 1))
    x = keras.layers.Normalization(
        axis=(1, 2), mean=mean, variance=np.square(std), name="standardise"
    )(x)
    if config.clip_sigmas > 0:
        x = ops.clip(x, -config.clip_sigmas, config.clip_sigmas)
    return x, level


def encoder(
    x: keras.KerasTensor, level: keras.KerasTensor | None, config: EncoderConfig
) -> keras.KerasTensor:
    """Conv1D + MaxPool stages over frequency, then the dense trunk [batch, dense_units]."""
    for filters, kernel_size in zip(config.filters, config.kernel_sizes, strict=True):
        if config.batch_norm:
            x = keras.layers.Conv1D(filters, kernel_size, padding="same", use_bias=False)(x)
            x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        else:
            x = keras.layers.Conv1D(filters, kernel_size, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(config.dropout)(x)
    if level is not None:
        x = keras.layers.Concatenate()([x, level])
    return keras.layers.Dense(config.dense_units, activation="relu", name="trunk")(x)


def task_heads(
    tasks: dict[str, int],
    embedding: keras.KerasTensor,
    trunk: keras.KerasTensor,
    config: EncoderConfig,
) -> dict[str, keras.KerasTensor]:
    """One softmax per task: the first reads what config.first_task_input names, the others
    the trunk."""
    first = embedding if config.first_task_input == "embedding" else trunk
    return {
        task: keras.layers.Dense(n_classes, activation="softmax", name=task)(
            first if i == 0 else trunk
        )
        for i, (task, n_classes) in enumerate(tasks.items())
    }


@dataclass(frozen=True)
class CnnConfig:
    """The CNN family: the encoder and nothing else of its own (its losses: LossConfig)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)


def build_cnn(
    input_shape: tuple[int, int],
    tasks: dict[str, int],
    feature_mean: np.ndarray,
    feature_std: np.ndarray,
    config: CnnConfig = CnnConfig(),
) -> keras.Model:
    """The trainable CNN: one softmax output per task and the dynamics read-out (the
    embedding is the layer named EMBEDDING, exported by inference_model).

    Args:
        input_shape: (n_bands, n_channels) of the features.
        tasks: task name -> number of classes; the first is read from the embedding.
        feature_mean, feature_std: float32 [n_bands, n_channels], from normalisation_stats
            of the training split only.
    """
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    x, level = input_stage(inputs, feature_mean, feature_std, config.encoder)
    trunk = encoder(x, level, config.encoder)
    embedding = keras.layers.Dense(EMBEDDING_DIMS, name=EMBEDDING)(trunk)
    outputs = {DYNAMICS: keras.layers.Dense(1, name=DYNAMICS)(embedding)}
    outputs |= task_heads(tasks, embedding, trunk, config.encoder)
    return keras.Model(inputs, outputs, name="perc_cnn")


def inference_model(model: keras.Model, tasks: tuple[str, ...]) -> keras.Model:
    """The exported part of either family: features in; one probability vector per task and
    the embedding out (training aids such as dynamics or the VAE's decoder are dropped)."""
    return keras.Model(
        model.inputs,
        {name: model.get_layer(name).output for name in (*tasks, EMBEDDING)},
        name=f"{model.name}_inference",
    )


def ensemble_model(members: list[keras.Model], tasks: tuple[str, ...]) -> keras.Model:
    """Members trained alike from different seeds, as one model: each task's probabilities
    averaged over the members; the embedding is the first member's (planes of separately
    trained models are not aligned, so they cannot be averaged). Layers are named as
    inference_model expects, so the ensemble exports like any single model."""
    inputs = keras.Input(members[0].inputs[0].shape[1:], name=INPUT_NAME)
    outputs = [
        keras.Model(
            m.inputs,
            {name: m.get_layer(name).output for name in (*tasks, EMBEDDING)},
            name=f"member_{i}",
        )(inputs)
        for i, m in enumerate(members)
    ]
    averaged = {
        task: keras.layers.Average(name=task)([member[task] for member in outputs])
        for task in tasks
    }
    embedding = keras.layers.Identity(name=EMBEDDING)(outputs[0][EMBEDDING])
    return keras.Model(inputs, {**averaged, EMBEDDING: embedding}, name="ensemble")
