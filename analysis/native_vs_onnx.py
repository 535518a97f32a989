"""The headline: the same stack natively and in onnxruntime on that framework's export, per conv type."""

from __future__ import annotations

import pandas as pd

from convbench.analysis.ratios import medians_at_common_channels
from convbench.models.variants import VARIANTS

# (framework, native runtime, native source, runtime on the export, exporter)
PAIRS = (
    ("torch", "torch", "torch", "ort", "torch.onnx"),
    ("keras", "keras-tf", "keras", "ort", "tf2onnx"),
)


def native_vs_onnx(results: pd.DataFrame) -> pd.DataFrame:
    """One row per framework x device x conv type at the largest channel count both sides have."""
    ok = results[results["status"] == "ok"]
    rows = []
    for framework, native, native_source, onnx_runtime, exporter in PAIRS:
        for device, dtype in ok[["device", "dtype"]].drop_duplicates().itertuples(index=False):
            here = ok[(ok["device"] == device) & (ok["dtype"] == dtype)]
            a = here[(here["runtime"] == native) & (here["source"] == native_source)]
            b = here[(here["runtime"] == onnx_runtime) & (here["source"] == exporter)]
            common = medians_at_common_channels(a, b)
            if common is None:
                continue
            channels, a_ms, b_ms = common
            for variant in VARIANTS:
                if variant in a_ms and variant in b_ms:
                    rows.append({"framework": framework, "device": device, "dtype": dtype, "channels": channels,
                                 "variant": variant,
                                 "native": native, "native_ms": a_ms[variant], "onnx": f"{onnx_runtime}[{exporter}]",
                                 "onnx_ms": b_ms[variant], "onnx_vs_native": b_ms[variant] / a_ms[variant]})
    return pd.DataFrame(rows)
