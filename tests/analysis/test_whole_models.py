"""The whole-network analysis: op kinds from recorded kernel names, and the rows it shows."""

import pandas as pd
import pytest

from convbench.analysis.whole_models import kernel_shares, op_kind

# Recorded kernel names (kernels.csv of committed runs and of a whole-model run on the 2-core CPU, 2026-12-07).
KERNEL_KINDS = {
    "aten::mkldnn_convolution": "conv",
    "aten::convolution_backward": "conv",
    "Convolution: brgconv_avx512_1x1_f32": "conv",
    "GroupConvolution: brgconv_avx512_dw_f32": "conv",
    "sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc": "conv",
    "FusedConv (CPUExecutionProvider)": "fused conv",
    "aten::native_batch_norm": "norm",
    "aten::hardtanh": "activation",
    "aten::clamp": "activation",
    "Softmax: jit_avx512_f32": "activation",
    "aten::max_pool2d_with_indices": "pooling",
    "ReduceMean (CPUExecutionProvider)": "pooling",
    "aten::addmm": "matmul/gemm",
    "FullyConnected: gemm_mlas_f32": "matmul/gemm",
    "MatMul (CPUExecutionProvider)": "matmul/gemm",
    "Reorder: jit_uni_f32": "other",
    "aten::empty": "other",
}


@pytest.mark.parametrize(("kernel", "kind"), KERNEL_KINDS.items())
def test_a_kernels_name_gives_its_op_kind(kernel, kind):
    assert op_kind(kernel) == kind


def test_shares_are_per_whole_model_row_and_sum_to_one():
    kernels = pd.DataFrame({
        "stack_id": ["resnet50-whole-b1-i224"] * 3 + ["conv3x3-c8-l16-b32-i32"],
        "runtime": "ort", "source": "torch.onnx", "device": "cpu", "machine": "m",
        "kernel": ["Conv (CPUExecutionProvider)", "Gemm (CPUExecutionProvider)", "aten::empty", "Conv"],
        "kind": "kernel", "ms_per_forward": [3.0, 0.5, 0.5, 9.0]})
    shares = kernel_shares(kernels)
    assert list(shares["stack_id"]) == ["resnet50-whole-b1-i224"]
    row = shares.iloc[0]
    assert row["conv"] == pytest.approx(0.75) and row["matmul/gemm"] == pytest.approx(0.125)
    assert row[["fused conv", "conv", "norm", "activation", "pooling", "matmul/gemm", "other"]].sum() == \
        pytest.approx(1.0)
