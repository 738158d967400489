"""Full-int8 TFLite export, the one way both reader models are quantized."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def to_int8(converter: Any, representative: Callable[[], Iterator[list[Any]]]) -> bytes:
    """int8 kernels with int8 input and output, calibrated on `representative` samples."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    result: bytes = converter.convert()
    return result
