"""The TFLite wrapper on the shipped hit bundle: named tensors, int8 (de)quantisation taken from
the model itself, and the same numbers from the fallback runtime (tflite-runtime 2.14)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware.bundle import MODEL_NAME
from firmware.hit_model import INPUT_NAME
from firmware.inference import TfliteModel

REPO = Path(__file__).resolve().parents[1]
TFLITE_RUNTIME_PYTHON = REPO / "build" / "tflite-runtime" / "bin" / "python"


@pytest.fixture(scope="module")
def model(hit_bundle):
    return TfliteModel(hit_bundle / MODEL_NAME)


def features(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-5.0, -1.0, (40, 6)).astype(np.float32)


def test_tensors_are_named_as_the_keras_model_named_them(model):
    assert set(model.inputs) == {INPUT_NAME}
    assert set(model.outputs) == {"hand", "location", "embedding"}
    assert model.inputs[INPUT_NAME].quantized and model.inputs[INPUT_NAME].dtype == np.int8


def test_outputs_are_dequantised_with_the_models_own_scale(model):
    """Regression: subtracting the zero point in int8 wrapped around (a probability of -0.5)."""
    for seed in range(20):
        outputs = model.run(**{INPUT_NAME: features(seed)})
        spec = model.outputs["hand"]
        raw = model._interpreter.get_tensor(spec.index).astype(np.float64)
        np.testing.assert_allclose(outputs["hand"], (raw - spec.zero_point) * spec.scale, rtol=1e-6)
        assert np.all(outputs["hand"] >= 0) and np.all(outputs["location"] >= 0)
        assert outputs["hand"].sum() == pytest.approx(1.0, abs=0.02)


def test_inputs_are_quantised_by_rounding_and_clipped(model):
    spec = model.inputs[INPUT_NAME]
    values = np.full((40, 6), 1e6, np.float32)
    model.set_input(INPUT_NAME, values)
    assert np.all(model._input_buffers[INPUT_NAME] == np.iinfo(np.int8).max)
    target = -50  # an int8 value; the float that lies 0.4 steps above it rounds down to it
    value = (target - spec.zero_point + 0.4) * spec.scale
    model.set_input(INPUT_NAME, np.full((40, 6), value, np.float32))
    assert np.all(model._input_buffers[INPUT_NAME] == target)


def test_run_many_equals_one_by_one(model):
    batch = np.stack([features(seed) for seed in range(5)])
    stacked = model.run_many(**{INPUT_NAME: batch})
    for item in range(5):
        single = model.run(**{INPUT_NAME: batch[item]})
        for name in model.outputs:
            np.testing.assert_array_equal(stacked[name][item], single[name][0])


def test_the_fallback_runtime_gives_the_same_outputs(model, hit_bundle):
    """tflite-runtime 2.14 (numpy < 2) in its own venv: `make tflite-runtime` makes it."""
    if not TFLITE_RUNTIME_PYTHON.is_file():
        pytest.skip(f"no {TFLITE_RUNTIME_PYTHON}: run `make tflite-runtime`")
    script = (
        "import json, sys, numpy as np\n"
        "from firmware.inference import TfliteModel\n"
        "m = TfliteModel(sys.argv[1])\n"
        "rng = np.random.default_rng(0)\n"
        "outs = [m.run(features=rng.uniform(-5, -1, (40, 6)).astype(np.float32))\n"
        "        for _ in range(10)]\n"
        "print(json.dumps([m.runtime, [{k: v.tolist() for k, v in o.items()} for o in outs]]))\n"
    )
    result = subprocess.run(
        [str(TFLITE_RUNTIME_PYTHON), "-c", script, str(hit_bundle / MODEL_NAME)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runtime, outputs = json.loads(result.stdout)
    assert runtime == "tflite-runtime"
    rng = np.random.default_rng(0)
    for fallback in outputs:
        ours = model.run(features=rng.uniform(-5, -1, (40, 6)).astype(np.float32))
        for name, values in fallback.items():
            # The two runtimes' int8 kernels (softmax above all) round differently, and the
            # default model averages three members' softmaxes and requantises: up to 5 output
            # steps (0.02) apart measured on these out-of-range inputs. Same decisions, though.
            values = np.asarray(values)
            np.testing.assert_allclose(values, ours[name], atol=0.03)
            if name != "embedding":
                top_two = np.sort(ours[name][0])[-2:]
                if top_two[1] - top_two[0] > 0.06:
                    assert values[0].argmax() == ours[name][0].argmax()


def test_python_version_of_the_fallback_is_this_one():
    """The fallback venv runs the firmware's own code: it must be the same Python."""
    if not TFLITE_RUNTIME_PYTHON.is_file():
        pytest.skip(f"no {TFLITE_RUNTIME_PYTHON}: run `make tflite-runtime`")
    version = subprocess.run(
        [str(TFLITE_RUNTIME_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == str(sys.version_info[:2])
