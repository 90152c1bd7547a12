"""TFLite export: float and full-integer int8 conversion, the int8-vs-float check, bundles.

Runs on the workstation (imports TensorFlow). Both conversions are loaded back into the very
interpreter wrapper the firmware uses (firmware.inference.TfliteModel) and compared on held-out
inputs: a quantised model that scores more than a set margin below its float original is
refused, because it would play worse on stage than the model that was trained.
"""

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import tensorflow as tf

from firmware.errors import HitarError
from firmware.inference import TfliteModel


class ExportError(HitarError):
    """A model cannot be exported faithfully (e.g. int8 scores well below float)."""


def to_tflite(
    model: tf.keras.Model, calibration: np.ndarray | dict[str, np.ndarray] | None = None
) -> bytes:
    """Convert a Keras model to TFLite.

    Args:
        calibration: None for a float model; else representative inputs, float32 [n, ...]
            (n of a few hundred), for a full-integer model with int8 inputs and outputs: one
            array for a model with one input, or one array per input name (all of length n).
    """
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its saved signatures
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _representative(
    calibration: np.ndarray | dict[str, np.ndarray],
) -> Callable[[], Iterator[list[np.ndarray] | dict[str, np.ndarray]]]:
    def generate() -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
        if isinstance(calibration, dict):
            count = len(next(iter(calibration.values())))
            for index in range(count):
                yield {name: v[index][None].astype(np.float32) for name, v in calibration.items()}
        else:
            for item in calibration:
                yield [item[None].astype(np.float32)]

    return generate


def load_tflite(model_bytes: bytes) -> TfliteModel:
    """Load converted bytes with the firmware's own interpreter wrapper."""
    with TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(model_bytes)
        return TfliteModel(path)


def class_disagreement(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], heads: tuple[str, ...]
) -> float:
    """Fraction of items on which any classification head's arg-max differs."""
    differs = np.zeros(len(reference[heads[0]]), dtype=bool)
    for head in heads:
        differs |= reference[head].argmax(axis=1) != candidate[head].argmax(axis=1)
    return float(differs.mean())


def check_score_loss(
    float_scores: dict[str, float], int8_scores: dict[str, float], count: int, limit: float
) -> None:
    """Refuse an int8 model that scores more than limit below its float original on any
    task (scores: macro-F1 per task on the same count held-out inputs)."""
    for task, float_score in float_scores.items():
        loss = float_score - int8_scores[task]
        if loss > limit:
            raise ExportError(
                f"int8 scores {loss:.3f} macro-F1 below float on task '{task}' "
                f"({int8_scores[task]:.3f} against {float_score:.3f}, {count} held-out inputs; "
                f"limit {limit}): keep the float model or improve calibration"
            )


def quantization_summary(model: TfliteModel) -> dict[str, dict[str, float | int | str]]:
    """Scale, zero point and dtype of every named tensor, for the manifest."""
    return {
        name: {
            "dtype": np.dtype(spec.dtype).name,
            "scale": spec.scale,
            "zero_point": spec.zero_point,
        }
        for name, spec in {**model.inputs, **model.outputs}.items()
    }
