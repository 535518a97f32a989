"""int8: static quantisation of a float32 ONNX export with onnxruntime's quantisation tools (QDQ format,
activations uint8 and weights int8 per output channel, min-max calibration on seeded random inputs that are not
the benchmark's input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.envinfo import PACKAGES, package_version

CALIBRATION_BATCHES = 4


class _SeededInputs:
    """onnxruntime.quantization's CalibrationDataReader protocol: standard-normal batches like make_input's, drawn
    from their own seeds."""

    def __init__(self, input_name: str, shape: tuple[int, ...], seed: int) -> None:
        rng = np.random.default_rng([seed, 3])
        self._batches = iter([{input_name: rng.standard_normal(shape).astype(np.float32)}
                              for _ in range(CALIBRATION_BATCHES)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def __iter__(self):
        return self

    def __next__(self):
        batch = self.get_next()
        if batch is None:
            raise StopIteration
        return batch


def quantize_int8(float_path: Path, out_path: Path, input_shape: tuple[int, ...], seed: int) -> str:
    """Write the int8 QDQ model of `float_path` to `out_path`; return the quantiser's (onnxruntime's) version."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    input_name = onnx.load(str(float_path), load_external_data=False).graph.input[0].name
    out_path.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(str(float_path), str(out_path), _SeededInputs(input_name, input_shape, seed),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    return str(package_version(PACKAGES["onnxruntime"]))
