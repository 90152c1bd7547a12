"""Hit model families: outputs and shapes, the level-free input stage, the VAE's posterior and
per-hit losses."""

import keras
import numpy as np
import pytest

from firmware.features import FeatureConfig
from firmware.layout import N_PIEZOS
from tests.hits_data import KIT, guitar_like_dataset
from training.hits.model import (
    DYNAMICS,
    EMBEDDING,
    EncoderConfig,
    build_cnn,
    inference_model,
    normalisation_stats,
)
from training.hits.train import dataset_features
from training.hits.vae import KL, RECONSTRUCTION, VaeConfig, build_vae

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
TASKS = {"hand": 4, "location": 5}


@pytest.fixture(scope="module")
def features():
    return dataset_features(guitar_like_dataset(40), FeatureConfig())


@pytest.mark.parametrize("builder", [build_cnn, build_vae])
def test_every_family_outputs_each_task_and_a_2d_embedding(features, builder):
    model = builder(features.shape[1:], TASKS, *normalisation_stats(features, EncoderConfig()))
    outputs = inference_model(model, tuple(TASKS))({"features": features})
    assert set(outputs) == {"hand", "location", EMBEDDING}
    assert outputs["hand"].shape == (40, 4) and outputs["location"].shape == (40, 5)
    assert outputs[EMBEDDING].shape == (40, 2)
    for task in TASKS:
        np.testing.assert_allclose(np.sum(outputs[task], axis=1), 1.0, rtol=1e-5)
    assert DYNAMICS in model.output_names and DYNAMICS not in outputs


@pytest.mark.parametrize("builder", [build_cnn, build_vae])
@pytest.mark.parametrize("first_task_input", ["embedding", "trunk"])
def test_the_first_task_reads_the_plane_or_the_trunk_as_configured(
    features, builder, first_task_input
):
    """Through the plane, the hand softmax has 2 inputs; from the trunk, as many as the trunk
    has units. The other tasks always read the trunk."""
    encoder = EncoderConfig(first_task_input=first_task_input)
    family = VaeConfig(encoder=encoder) if builder is build_vae else _cnn(encoder)
    model = builder(features.shape[1:], TASKS, *normalisation_stats(features, encoder), family)
    expected = 2 if first_task_input == "embedding" else encoder.dense_units
    assert model.get_layer("hand").kernel.shape == (expected, 4)
    assert model.get_layer("location").kernel.shape == (encoder.dense_units, 5)


def test_an_unknown_first_task_input_is_refused():
    with pytest.raises(ValueError, match="first_task_input must be one of"):
        EncoderConfig(first_task_input="decoder")


def test_the_convolutions_see_no_gain_change(features):
    """A gain change is a constant added to every log band of every channel: the level stage
    removes it before anything is learned from the spectrum's shape."""
    mean, std = normalisation_stats(features, EncoderConfig())
    model = build_cnn(features.shape[1:], TASKS, mean, std)
    standardised = keras.Model(model.inputs, model.get_layer("standardise").output)
    louder = features + np.float32(0.6)  # +12 dB on every sensor
    np.testing.assert_allclose(
        standardised({"features": louder}), standardised({"features": features}), atol=1e-4
    )
    plain = build_cnn(features.shape[1:], TASKS, mean, std, _no_level())
    raw = keras.Model(plain.inputs, plain.get_layer("standardise").output)
    assert np.abs(raw(louder) - raw(features)).max() > 0.1


def _cnn(encoder: EncoderConfig):
    from training.hits.model import CnnConfig

    return CnnConfig(encoder=encoder)


def _no_level():
    return _cnn(EncoderConfig(level_norm=False))


def test_normalisation_stats_give_a_silent_channel_unit_spread(features):
    features = features.copy()
    features[:, :, N_PIEZOS] = np.log10(FeatureConfig().log_floor)
    _, std = normalisation_stats(features, EncoderConfig())
    assert np.all(std[:, N_PIEZOS] == 1.0) and np.all(std > 0)


def test_vae_samples_while_training_and_is_deterministic_otherwise(features):
    model = build_vae(features.shape[1:], TASKS, *normalisation_stats(features, EncoderConfig()))
    first, second = (
        model({"features": features}, training=False),
        model({"features": features}, training=False),
    )
    np.testing.assert_array_equal(first[RECONSTRUCTION], second[RECONSTRUCTION])
    sampled = model({"features": features}, training=True)
    assert not np.allclose(sampled[RECONSTRUCTION], first[RECONSTRUCTION])


def test_vae_losses_are_per_hit_and_never_negative(features):
    config = VaeConfig(encoder=EncoderConfig(dropout=0.0))
    model = build_vae(
        features.shape[1:], TASKS, *normalisation_stats(features, config.encoder), config
    )
    outputs = model({"features": features}, training=True)
    for name in (RECONSTRUCTION, KL):
        values = np.asarray(outputs[name])
        assert values.shape == (40, 1) and np.all(values >= 0.0)
    assert np.all(np.isfinite(np.asarray(outputs[KL])))
