"""Keras stacks and networks to LiteRT (.tflite) with TensorFlow's converter, float32 and full-integer int8.

float32: `tf.lite.TFLiteConverter.from_keras_model` with no optimisation, so the math is the Keras model's (each
Conv2D stays a float32 CONV_2D or DEPTHWISE_CONV_2D). int8: full-integer post-training quantisation (weights int8
per channel, activations int8), calibrated on seeded random inputs that are not the benchmark's, the way the ONNX
int8 files are made; inputs and outputs stay float32 (the file quantises and dequantises at its ends)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convbench.artifacts import combined_sha256, sha256_of

CALIBRATION_BATCHES = 8


def convert(model, dtype: str, input_shape: tuple[int, ...], seed: int, path: Path) -> str:
    """Write the .tflite file of a float32 Keras model (int8: quantised); return TensorFlow's version."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if dtype == "int8":
        rng = np.random.default_rng([seed, 5])  # not the benchmark's input (convbench.models.weights.make_input)

        def calibration():
            for _ in range(CALIBRATION_BATCHES):
                yield [rng.standard_normal(input_shape, dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(converter.convert())
    return tf.__version__


def describe_tflite(path: Path) -> dict[str, object]:
    """What the file holds (its operators, before any delegate takes them) and its hash, as manifest columns."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    counts = {name: ops.count(name) for name in dict.fromkeys(ops)}
    files = {path.name: sha256_of(path)}
    return {"producer": "tf.lite.TFLiteConverter", "nodes": len(ops),
            "node_counts": json.dumps(dict(sorted(counts.items()))), "bytes": path.stat().st_size,
            "sha256": combined_sha256(files), "files": json.dumps(files)}


def run_tflite(path: Path, x_nhwc: np.ndarray, threads: int = 1) -> np.ndarray:
    """The file's output on one input, with LiteRT's default CPU path (XNNPACK)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x_nhwc.astype(np.float32))
    interpreter.invoke()
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), dtype=np.float32)
