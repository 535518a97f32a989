"""The machine's ceilings, measured once at the start of a bench run and kept in env.json under "ceilings"
(convbench.roofline turns them into each case's floor).

- The peak float32 rate. On the CPU it is the best large GEMM among the installed runtimes: torch.matmul,
  onnxruntime and OpenVINO each running the same ONNX MatMul graph, all timed the same way (n x n float32 with
  n = CPU_GEMM_N, the run's threads, one warm-up, then the best of GEMM_REPEATS) in the runtime's own worker.
  `peak_gflop_per_s` is the best of them and `peak_from` names it; `gemm_gflop_per_s_<runtime>` keeps each. On
  CUDA it is torch's matmul, with TF32, float16 and bfloat16 beside it. On the CPU every GEMM is measured in each of
  CEILING_PROCESSES fresh processes (this 2-core machine's processes are bimodal), the best kept.
- The copy bandwidth (torch, read + write).
- On the CPU, the physical float32 peak where the CPU's vendor, family and flags give its FLOPs per cycle: cores x
  the clock measured on them (convbench.cpu_clock) x FLOPs per cycle per core, with where each number came from
  (`physical_peak_source`). It is the roofline's peak (`peak_gflop_per_s`, `peak_from` "physical"); the best GEMM is
  the practical ceiling beside it (`gemm_peak_gflop_per_s`, `gemm_peak_from`). Runs before 2026-12-07 have no
  physical peak: their peak is the best GEMM and their `theoretical_peak_*` used the nominal clock."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from convbench.cpu_clock import measured_clock

CPU_GEMM_N = 2048
# Fresh processes the CPU ceilings are measured in, the best kept (CONVBENCH_CEILING_PROCESSES overrides: the test
# suite, which starts many short runs, measures them in one).
CEILING_PROCESSES = int(os.environ.get("CONVBENCH_CEILING_PROCESSES", "2"))
CUDA_GEMM_N = 8192
GEMM_REPEATS = 5


def best_seconds(fn: Callable[[], object], repeats: int = GEMM_REPEATS,
                 sync: Callable[[], object] = lambda: None) -> float:
    """The fastest of `repeats` calls of fn after one warm-up, synchronised after each (seconds)."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflop_per_s(n: int, seconds: float) -> float:
    return 2 * n**3 / seconds / 1e9


def measure_ceilings(device: str, threads: int) -> dict[str, float | str]:
    """torch's ceilings: peak float32 matmul rate (GFLOP/s; on CUDA also with TF32, float16 and bfloat16) and copy
    bandwidth (GB/s, read + write). Runs in the torch worker."""
    import torch

    torch.set_num_threads(threads)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    n = CUDA_GEMM_N if dev.type == "cuda" else CPU_GEMM_N
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    out: dict[str, float | str] = {}
    previous = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        out["peak_gflop_per_s"] = gemm_gflop_per_s(n, best_seconds(lambda: a @ b, sync=sync))
        out["peak_from"] = "torch"
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            out["peak_tf32_gflop_per_s"] = gemm_gflop_per_s(n, best_seconds(lambda: a @ b, sync=sync))
            for dtype in (torch.float16, torch.bfloat16):
                low_a, low_b = a.to(dtype), b.to(dtype)
                out[f"peak_{str(dtype).removeprefix('torch.')}_gflop_per_s"] = gemm_gflop_per_s(
                    n, best_seconds(lambda x=low_a, y=low_b: x @ y, sync=sync))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    elements = (1 << 28) if dev.type == "cuda" else (1 << 26)  # 1 GiB on the GPU, 256 MiB on the CPU
    src = torch.ones(elements, device=dev)
    dst = torch.empty_like(src)
    out["bandwidth_gb_per_s"] = 2 * src.numel() * 4 / best_seconds(lambda: dst.copy_(src), sync=sync) / 1e9
    out["matmul_n"] = n
    if dev.type == "cuda":
        l2_bytes = getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", None)
        out.update({"cache_mb": l2_bytes / 1e6, "cache_source": f"torch: the GPU's L2, {l2_bytes / 2**20:g} MiB"}
                   if l2_bytes else {"cache_source": "not known: torch reports no L2 size for this GPU"})
    if dev.type == "cpu":
        out["gemm_gflop_per_s_torch"] = out["peak_gflop_per_s"]
    return out


def matmul_onnx(n: int) -> bytes:
    """An ONNX graph of one float32 MatMul of two n x n inputs (inputs, so nothing is folded at load)."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in ("a", "b")]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _operands(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


def ort_gemm_gflop_per_s(threads: int, n: int = CPU_GEMM_N) -> float:
    """onnxruntime's CPU provider on the MatMul graph, with the session options every ort case uses."""
    import onnxruntime as ort

    from convbench.runners.ort_runner import session_options

    session = ort.InferenceSession(matmul_onnx(n), sess_options=session_options(threads),
                                   providers=["CPUExecutionProvider"])
    a, b = _operands(n)
    return gemm_gflop_per_s(n, best_seconds(lambda: session.run(None, {"a": a, "b": b})))


def openvino_gemm_gflop_per_s(threads: int, n: int = CPU_GEMM_N) -> float:
    """OpenVINO on the CPU on the MatMul graph, with the configuration every openvino case uses."""
    import tempfile

    from convbench.runners.openvino_runner import OpenVinoCpu

    runner = OpenVinoCpu(threads)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gemm.onnx"
        path.write_bytes(matmul_onnx(n))
        request = runner.compile(path).create_infer_request()
    a, b = _operands(n)
    return gemm_gflop_per_s(n, best_seconds(lambda: request.infer({0: a, 1: b})))


# The CPU runtimes besides torch whose GEMM may set the peak: runtime -> (the module it needs, its GEMM).
CPU_GEMMS: dict[str, tuple[str, Callable[[int], float]]] = {
    "ort": ("onnxruntime", ort_gemm_gflop_per_s),
    "openvino": ("openvino", openvino_gemm_gflop_per_s),
}


def cpu_gemms(threads: int) -> dict[str, float | str]:
    """Each other CPU runtime's GEMM (`gemm_gflop_per_s_<runtime>`), in this process (the torch worker, whose
    thread settings every CPU runtime shares), or why it was not measured."""
    import importlib.util

    out: dict[str, float | str] = {}
    for runtime, (module, gemm) in CPU_GEMMS.items():
        key = f"gemm_gflop_per_s_{runtime}"
        if importlib.util.find_spec(module) is None:
            out[key] = f"not measured: {module} not installed"
            continue
        try:
            out[key] = gemm(threads)
        except Exception as error:  # this runtime's GEMM is left out of the peak, saying why
            out[key] = f"not measured: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return out


def best_gemm(ceilings: dict[str, float | str]) -> dict[str, float | str]:
    """The ceilings with `peak_gflop_per_s` and `peak_from` set to the best of the `gemm_gflop_per_s_*` measured."""
    gemms = {key.removeprefix("gemm_gflop_per_s_"): value for key, value in ceilings.items()
             if key.startswith("gemm_gflop_per_s_") and isinstance(value, float)}
    if not gemms:
        return ceilings
    runtime = max(gemms, key=gemms.__getitem__)
    return {**ceilings, "peak_gflop_per_s": gemms[runtime], "peak_from": runtime}


def _cache_kib(size: str) -> int:
    """sysfs' cache size text ("1024K", "32M") in KiB."""
    number, unit = int(re.sub(r"\D", "", size) or 0), size.strip()[-1:].upper()
    return number * {"K": 1, "M": 1024, "G": 1024 * 1024}.get(unit, 1)


def cpu_cache_mb(sysfs: Path = Path("/sys/devices/system/cpu")) -> dict[str, float | str]:
    """The data the caches beyond L1 can hold together (MB): every distinct L2 and L3 (data or unified) of the
    online CPUs, as the kernel reports them (sysfs), where a case's layers can stay between layers; or
    {"cache_source": why not}."""
    caches: dict[tuple[str, str], int] = {}
    for index in sorted(sysfs.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
            size, shared = (index / "size").read_text().strip(), (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        if level != "1" and kind in ("Data", "Unified"):
            caches[(f"L{level}", shared)] = _cache_kib(size)
    if not caches:
        return {"cache_source": f"not known: no cache sizes in {sysfs}/cpu*/cache"}
    per_level: dict[str, list[int]] = {}
    for (level, _), kib in caches.items():
        per_level.setdefault(level, []).append(kib)
    return {"cache_mb": sum(caches.values()) * 1024 / 1e6,
            "cache_source": "sysfs: " + ", ".join(f"{len(sizes)} x {sizes[0] / 1024:g} MiB {level}"
                                                  for level, sizes in sorted(per_level.items()))}


def _cpuinfo_field(text: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def flops_per_cycle(vendor: str, family: int | None, model: int | None, flags: set[str]) -> tuple[int, str] | None:
    """float32 FLOPs per cycle per core from the vector width and FMA units the vendor, family and flags imply,
    with the reasoning; None where they do not say (no FMA, or an unknown vendor)."""
    if "fma" not in flags or "avx2" not in flags:
        return None
    if vendor == "AuthenticAMD":
        if family == 0x17 and model is not None and model < 0x30:
            return 16, "AMD Zen 1: 2 FMA pipes, 128 bits wide (4 float32 lanes), 2 FLOPs each"
        if family == 0x1A and "avx512f" in flags:
            return 64, "AMD Zen 5: 2 FMA pipes, 512 bits wide (16 float32 lanes), 2 FLOPs each"
        if family in (0x17, 0x19, 0x1A):
            width = "AVX-512 issued on 256-bit datapaths (Zen 4)" if "avx512f" in flags else "AVX2"
            return 32, f"AMD Zen 2-4: 2 FMA pipes, 256 bits wide (8 float32 lanes), 2 FLOPs each ({width})"
        return None
    if vendor == "GenuineIntel":
        if "avx512f" in flags:
            return 64, ("Intel AVX-512: 2 FMA units assumed, 512 bits wide (16 float32 lanes), 2 FLOPs each (Xeon "
                        "Gold and Platinum; Silver and Bronze have 1 unit: half this)")
        return 32, "Intel AVX2: 2 FMA units, 256 bits wide (8 float32 lanes), 2 FLOPs each (Haswell and later)"
    return None


def physical_cpu_peak(cores: int, cpuinfo: str | None = None, clock: dict[str, float | str] | None = None,
                      max_khz: str | None = None) -> dict[str, float | str]:
    """The machine's float32 peak: cores x the clock the cores run at x FLOPs per cycle per core (from the vendor,
    family and flags in /proc/cpuinfo), with where each number came from (`physical_peak_source`); the clock is
    measured (convbench.cpu_clock; `clock`: its result, measured here when None) and only where it cannot be,
    cpufreq's maximum or /proc/cpuinfo's nominal clock, said so. {"physical_peak_source": why not} where the CPU's
    FLOPs per cycle are not known."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    vendor = _cpuinfo_field(cpuinfo, "vendor_id") or ""
    family, model = (_cpuinfo_field(cpuinfo, name) for name in ("cpu family", "model"))
    flags = set((_cpuinfo_field(cpuinfo, "flags") or "").split())
    per_cycle = flops_per_cycle(vendor, int(family) if family and family.isdigit() else None,
                                int(model) if model and model.isdigit() else None, flags)
    if clock is None:
        clock = measured_clock(cores)
    out: dict[str, float | str] = dict(clock)
    if per_cycle is None:
        return {**out, "physical_peak_source": f"not derived: vendor {vendor or '?'} family {family or '?'} has no "
                                               "FMA rule here (needs fma and avx2 on AMD Zen or Intel)"}
    if max_khz is None:
        path = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        max_khz = path.read_text().strip() if path.exists() else ""
    if isinstance(clock.get("measured_clock_ghz"), float):
        ghz, clock_from = float(clock["measured_clock_ghz"]), "measured: convbench.cpu_clock's dependent add chain"
    elif max_khz:
        ghz = int(max_khz) / 1e6
        clock_from = f"cpufreq's cpuinfo_max_freq; the clock was {clock.get('clock_method')}"
    elif _cpuinfo_field(cpuinfo, "cpu MHz"):
        ghz = float(_cpuinfo_field(cpuinfo, "cpu MHz") or 0) / 1e3
        clock_from = (f"/proc/cpuinfo's cpu MHz, the nominal clock (boost may be higher, so this peak may be too "
                      f"low); the clock was {clock.get('clock_method')}")
    else:
        return {**out, "physical_peak_source": "not derived: the clock was neither measured nor reported"}
    flops, why = per_cycle
    return {**out, "physical_peak_gflop_per_s": cores * ghz * flops,
            "physical_peak_source": f"{cores} cores (the threads the runtimes use, one each) x {ghz:.2f} GHz "
                                    f"({clock_from}) x {flops} FLOP/cycle ({why}; vendor {vendor}, family {family}, "
                                    f"model {model})"}


def cpu_peak(ceilings: dict[str, float | str], physical: dict[str, float | str]) -> dict[str, float | str]:
    """The CPU's ceilings with the roofline's peak set: the physical peak where it is derived (the best GEMM, the
    practical ceiling, kept beside it as `gemm_peak_gflop_per_s`), else the best GEMM. A GEMM faster than the
    physical peak means the FLOPs-per-cycle rule is wrong for this CPU: the GEMM is then the peak and `peak_from`
    says so."""
    best = best_gemm(ceilings)
    out = {**best, **physical, "gemm_peak_gflop_per_s": best["peak_gflop_per_s"], "gemm_peak_from": best["peak_from"]}
    peak = physical.get("physical_peak_gflop_per_s")
    if not isinstance(peak, float):
        return out
    if peak >= best["peak_gflop_per_s"]:
        return {**out, "peak_gflop_per_s": peak, "peak_from": "physical"}
    return {**out, "peak_from": f"{best['peak_from']} (its GEMM beat the physical peak {peak:,.0f} GFLOP/s: the "
                                "FLOPs-per-cycle rule does not hold for this CPU)"}
