"""Export a trained hit classifier as a firmware bundle: int8, checked against float.

The bundle's metrics are measured here, on held-out hits, through the firmware's own
interpreter wrapper and for both the float and the int8 conversion, so the manifest says what
the shipped int8 model does, not what the Keras model did.
"""

import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np

from deploy.export import (
    check_agreement,
    class_disagreement,
    load_tflite,
    quantization_summary,
    to_tflite,
)
from firmware import __version__
from firmware.bundle import Bundle, write_bundle
from firmware.features import FeatureConfig
from firmware.hit_model import EMBEDDING_DIMS, INPUT_NAME
from firmware.layout import CHANNEL_NAMES
from training.hits.metrics import classification_report
from training.hits.model import EMBEDDING, inference_model

MAX_DISAGREEMENT = 0.01
"""Largest share of held-out hits on which int8 may classify differently from float."""
CALIBRATION_HITS = 500


def export_hits_bundle(
    model: keras.Model,
    tasks: tuple[str, ...],
    class_names: dict[str, tuple[str, ...]],
    features: FeatureConfig,
    calibration_x: np.ndarray,
    check_x: np.ndarray,
    check_y: dict[str, np.ndarray],
    out: Path,
    training_summary: dict[str, Any],
    float_out: Path | None = None,
    max_disagreement: float = MAX_DISAGREEMENT,
) -> tuple[Bundle, dict[str, Any]]:
    """Convert to float and int8 TFLite, compare them on held-out hits, write the int8 bundle.

    Args:
        model: the trained model (any extra heads are dropped).
        calibration_x: training features, float32 [n, n_bands, 6], for int8 calibration.
        check_x, check_y: held-out features and class indices per task.
        out: the bundle folder to write.
        float_out: where to keep the float .tflite for reference (not shipped), or None.

    Raises:
        ExportError: int8 and float disagree on more than max_disagreement of check_x.
    """
    exported = inference_model(model, tasks)
    float_bytes = to_tflite(exported)
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(calibration_x))[:CALIBRATION_HITS]
    int8_bytes = to_tflite(exported, calibration_x[chosen])
    float_model, int8_model = load_tflite(float_bytes), load_tflite(int8_bytes)
    float_outputs = float_model.run_many(**{INPUT_NAME: check_x})
    int8_outputs = int8_model.run_many(**{INPUT_NAME: check_x})
    disagreement = class_disagreement(float_outputs, int8_outputs, tasks)
    check_agreement(disagreement, len(check_x), max_disagreement)
    metrics = {
        "held_out_hits": len(check_x),
        "int8_float_disagreement": disagreement,
        "embedding_max_abs_error": float(
            np.max(np.abs(float_outputs[EMBEDDING] - int8_outputs[EMBEDDING]))
        ),
        "float": {
            t: classification_report(check_y[t], float_outputs[t], class_names[t]) for t in tasks
        },
        "int8": {
            t: classification_report(check_y[t], int8_outputs[t], class_names[t]) for t in tasks
        },
    }
    if float_out is not None:
        float_out.parent.mkdir(parents=True, exist_ok=True)
        float_out.write_bytes(float_bytes)
    manifest = {
        "kind": "hits",
        "version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "sample_rate_hz": features.sample_rate_hz,
        "channels": list(CHANNEL_NAMES),
        "features": features.to_dict(),
        "classes": {task: list(class_names[task]) for task in tasks},
        "embedding_dims": EMBEDDING_DIMS,
        "tensors": {"input": INPUT_NAME, "outputs": [*tasks, EMBEDDING]},
        "quantization": quantization_summary(int8_model),
        "parameters": int(exported.count_params()),
        "metrics": metrics,
        "training": training_summary,
    }
    return write_bundle(out, int8_bytes, manifest), metrics
