"""The VAE family ("PercVAE"): a classifier trained jointly with a variational autoencoder.

After Martelloni et al. (ISMIR 2023): the encoder (shared with the CNN, training/hits/model.py)
gives a Gaussian posterior over a 2-D latent; its *mean* is the embedding and feeds the first
task's classifier; a sample from the posterior feeds a decoder that rebuilds the standardised
input spectrum. Loss = cross-entropy + reconstruction + KL (weights in losses.LossConfig).

What is learned explicitly and what implicitly:
- explicit: class regions in the plane (the cross-entropy reads the posterior mean), a compact
  plane centred on the origin with unit spread (the KL to N(0, I)), and, optionally, a linear
  dynamics direction (the same read-out as the CNN's, weight LossConfig.dynamics_weight);
- implicit: because the plane must also let the decoder rebuild the whole spectrum, a hit's
  position within its class region follows whatever varies most in its sound (brightness,
  which rises with how hard it was played; where on the area it landed), without a label for
  it. The posterior's spread says how sure the encoder is; the decoder is a training aid.
Only the encoder, the posterior mean and the heads are exported (model.inference_model).
"""

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from firmware.hit_model import EMBEDDING_DIMS, INPUT_NAME
from training.hits.model import (
    DYNAMICS,
    EMBEDDING,
    EncoderConfig,
    encoder,
    input_stage,
    task_heads,
)

RECONSTRUCTION = "reconstruction"
KL = "kl"


@keras.saving.register_keras_serializable(package="hitar")
class PosteriorSample(keras.layers.Layer):
    """z = mean + exp(log_var / 2) * eps while training (the reparameterisation trick); the
    mean itself otherwise, so that evaluation is deterministic."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: list, training: bool | None = None):
        mean, log_var = inputs
        if not training:
            return mean
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * noise

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@dataclass(frozen=True)
class VaeConfig:
    """The VAE family: the shared encoder, and the decoder's size."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder_units: int = 64
    seed: int = 0
    """Seed of the posterior sampling noise."""


def build_vae(
    input_shape: tuple[int, int],
    tasks: dict[str, int],
    feature_mean: np.ndarray,
    feature_std: np.ndarray,
    config: VaeConfig = VaeConfig(),
) -> keras.Model:
    """The trainable VAE-classifier.

    Outputs: one softmax per task, DYNAMICS (linear read-out of the posterior mean),
    RECONSTRUCTION (each hit's mean squared error of the rebuilt standardised spectrum,
    [batch, 1]) and KL (each hit's KL divergence from N(0, I), nats, [batch, 1]); the last two
    are losses in themselves (losses.output_value).

    Args: as training.hits.model.build_cnn.
    """
    inputs = keras.Input(input_shape, name=INPUT_NAME)
    x, level = input_stage(inputs, feature_mean, feature_std, config.encoder)
    trunk = encoder(x, level, config.encoder)
    mean = keras.layers.Dense(EMBEDDING_DIMS, name=EMBEDDING)(trunk)
    log_var = keras.layers.Dense(EMBEDDING_DIMS, name="log_var")(trunk)
    z = PosteriorSample(config.seed, name="posterior_sample")([mean, log_var])
    decoded = keras.layers.Dense(config.decoder_units, activation="relu", name="decoder")(z)
    decoded = keras.layers.Dense(int(np.prod(input_shape)), name="decoded")(decoded)
    decoded = keras.layers.Reshape(input_shape)(decoded)
    error = ops.mean(ops.square(decoded - x), axis=(1, 2))
    kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)
    outputs = {
        DYNAMICS: keras.layers.Dense(1, name=DYNAMICS)(mean),
        RECONSTRUCTION: keras.layers.Identity(name=RECONSTRUCTION)(ops.reshape(error, (-1, 1))),
        KL: keras.layers.Identity(name=KL)(ops.reshape(kl, (-1, 1))),
    }
    outputs |= task_heads(tasks, mean, trunk, config.encoder)
    return keras.Model(inputs, outputs, name="perc_vae")
