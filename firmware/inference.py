"""The TFLite interpreter, and nothing else: the only module that imports it.

ai-edge-litert is preferred; tflite-runtime is the fallback for boards without its wheels.
Tensors are addressed by their signature names (as named in the Keras model), never by output
order, which the converter does not keep. Quantised int8 inputs and outputs are converted from
and to float here, with the scale and zero point read from the model itself.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import BundleError, HitarError


def interpreter_class() -> tuple[type, str]:
    """The Interpreter class of the first TFLite runtime installed, and the runtime's name."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        raise HitarError(
            "no TFLite interpreter: install ai-edge-litert (or tflite-runtime on 32-bit boards)"
        ) from None


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output tensor and its affine quantisation (scale 0: float)."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: type
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


class TfliteModel:
    """A loaded model with named float inputs and outputs.

    Buffers are allocated once here; ``set_input``/``invoke``/``output`` then only copy into
    and out of them, so a call per hit or per hop costs no allocation beyond the runtime's own.
    """

    def __init__(self, model_path: Path, num_threads: int = 1) -> None:
        interpreter_type, self.runtime = interpreter_class()
        model_path = Path(model_path)
        try:
            content = model_path.read_bytes()
        except OSError as error:
            raise BundleError(f"{model_path}: cannot read ({error.strerror})") from None
        try:
            self._interpreter = interpreter_type(model_content=content, num_threads=num_threads)
            self._interpreter.allocate_tensors()
            runner = self._interpreter.get_signature_runner()
            inputs = runner.get_input_details()
            outputs = runner.get_output_details()
        except (ValueError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
            raise BundleError(f"{model_path}: not a usable TFLite model ({reason})") from None
        self.inputs = {name: _spec(name, detail) for name, detail in inputs.items()}
        self.outputs = {name: _spec(name, detail) for name, detail in outputs.items()}
        self._input_buffers = {n: np.zeros(s.shape, s.dtype) for n, s in self.inputs.items()}
        self._output_buffers = {n: np.zeros(s.shape, np.float32) for n, s in self.outputs.items()}

    def set_input(self, name: str, values: np.ndarray) -> None:
        """Copy float values (the input's shape without or with its batch axis) into the model."""
        spec = self.inputs[name]
        buffer = self._input_buffers[name]
        if spec.quantized:
            scaled = np.asarray(values, np.float32).reshape(spec.shape) / spec.scale
            np.clip(np.rint(scaled) + spec.zero_point, *_limits(spec.dtype), out=scaled)
            buffer[...] = scaled
        else:
            buffer[...] = np.asarray(values).reshape(spec.shape)
        self._interpreter.set_tensor(spec.index, buffer)

    def invoke(self) -> None:
        self._interpreter.invoke()

    def output(self, name: str) -> np.ndarray:
        """Float values of an output, shape as in the model (batch axis included).

        The returned array is this model's buffer: overwritten by the next call.
        """
        spec = self.outputs[name]
        buffer = self._output_buffers[name]
        raw = self._interpreter.get_tensor(spec.index)
        buffer[...] = raw  # to float first: int8 arithmetic would wrap around
        if spec.quantized:
            buffer -= spec.zero_point
            buffer *= spec.scale
        return buffer

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Set every input, invoke, and return copies of every output: for offline use."""
        for name, values in inputs.items():
            self.set_input(name, values)
        self.invoke()
        return {name: self.output(name).copy() for name in self.outputs}

    def run_many(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Run once per item along the first axis of every input (same length): for
        evaluation, through exactly the path the firmware uses. Outputs are stacked, float32
        [n, ...] without the model's batch axis of 1."""
        lengths = {len(values) for values in inputs.values()}
        if len(lengths) != 1:
            raise ValueError(f"inputs differ in length: {sorted(lengths)}")
        (count,) = lengths
        results = {
            name: np.zeros((count, *spec.shape[1:]), np.float32)
            for name, spec in self.outputs.items()
        }
        for item in range(count):
            for name, values in inputs.items():
                self.set_input(name, values[item])
            self.invoke()
            for name, stacked in results.items():
                stacked[item] = self.output(name)[0]
        return results


def _spec(name: str, detail: dict[str, Any]) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    return TensorSpec(
        name=name,
        index=int(detail["index"]),
        shape=tuple(int(n) for n in detail["shape"]),
        dtype=detail["dtype"],
        scale=float(scale),
        zero_point=int(zero_point),
    )


def _limits(dtype: type) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)
