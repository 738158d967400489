"""Load a TFLite model with the pinned LiteRT runtime, or tflite_runtime as a fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # a box that only has the older runtime
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise RuntimeError(
                "no TFLite runtime: install ai-edge-litert>=2.3,<2.4 (or tflite-runtime)"
            ) from exc
    return Interpreter


class TFLiteModel:
    """One int8 model with a single input and a single output, run on a fixed thread count."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        self.interpreter = _interpreter_class()(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        out = self.interpreter.get_output_details()[0]
        self.input_index: int = inp["index"]
        self.output_index: int = out["index"]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in inp["shape"])
        self.input_dtype = np.dtype(inp["dtype"])
        self.input_scale, self.input_zero = inp["quantization"]
        self.output_dtype = np.dtype(out["dtype"])
        self.output_scale, self.output_zero = out["quantization"]
        # uint8 pixel -> the model's input value for pixel / 255, computed as run() would
        self._pixel_lut = self._quantize(np.arange(256, dtype=np.float32) / 255.0)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.float32:
            return x.astype(np.float32)
        info = np.iinfo(self.input_dtype)
        q = np.round(x / self.input_scale + self.input_zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Run on uint8 pixels scaled to 0..1: one table look-up instead of float arithmetic."""
        return self._invoke(self._pixel_lut[pixels])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run on float input in the model's own range; quantizes and dequantizes as needed."""
        return self._invoke(self._quantize(x))

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.input_shape:
            x = x.reshape(self.input_shape)
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output_index)
        if self.output_dtype != np.float32:
            y = (y.astype(np.float32) - self.output_zero) * self.output_scale
        return y
