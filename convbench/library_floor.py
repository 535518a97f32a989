"""The library floor on CUDA: the fastest execution plan cuDNN offers for each conv layer of the sweep.

The roofline floor (FLOPs / peak, bytes / bandwidth) is far below anything reachable at these sizes. The practical
floor is the best plan that the vendor library has for the layer's exact shape, as cuDNN's own search or oneDNN's
benchdnn measure it. For each distinct layer (batch, channels in and out, kernel, stride, padding, dilation,
groups, input size) and dtype of the sweep, and each operation a pass needs (fprop; in a training step also dgrad
and wgrad), this module:
- builds the operation in cuDNN's frontend graph API (pip `nvidia-cudnn-frontend`, the `gpu` extra), in the two
  layouts the runtimes use (NCHW, and NHWC as channels_last and the compiled runtimes run it);
- enumerates its plans: heuristic modes A and B and the fallback list, every plan built;
- times every plan by its kernels' device durations (CUPTI records through torch.profiler; a Python `execute`
  call costs about 20 us of host time, more than most of these kernels, so host timers would measure the launch);
- keeps the fastest: its plan name, time and workspace.

Floors are kept per GPU, shape, dtype, operation and layout in the run directory (FLOORS_FILE) and never measured
twice there. A case's floor is the sum over its conv layers of each layer's fastest plan in either layout."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from convbench.csvfile import replace_text
from convbench.skeleton import ConvNode, convs
from convbench.spec import Workload

FLOORS_FILE = "library_floors.csv"
PASS_OPERATIONS = {"forward": ("fprop",), "train": ("fprop", "dgrad", "wgrad")}
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "tf32", "float16", "bfloat16")  # cuDNN has no int8 conv plans for these graphs
# IEEE float32 allows no plan whose numerical notes say it uses tensor cores (TF32 for float data) or converts its
# inputs down; tf32 (float data, TF32 math) and the 16-bit dtypes allow every plan.
IEEE_FLOAT32_DESELECTED = ("TENSOR_CORE", "DOWN_CONVERT_INPUTS")
LAYOUTS_VARIABLE = "CONVBENCH_FLOOR_LAYOUTS"  # e.g. NHWC: measure one layout only (half the time; the floor says so)
PLAN_CALLS = 5  # profiled executions of each plan (after one warm-up each)
METHOD = ("cuDNN frontend: every plan of heuristic modes A, B and the fallback list, in NCHW and NHWC, timed by its "
          "kernels' device durations (CUPTI via torch.profiler), the fastest kept per layer")


@dataclass(frozen=True)
class LayerShape:
    """One conv layer's shape as cuDNN sees it, with the dtype it runs in."""

    batch: int
    c_in: int
    c_out: int
    kernel_h: int
    kernel_w: int
    in_h: int
    in_w: int
    stride: int
    pad_h: int
    pad_w: int
    dilation: int
    groups: int
    dtype: str

    @classmethod
    def of(cls, node: ConvNode, batch: int, dtype: str) -> LayerShape:
        return cls(batch, node.c_in, node.c_out, *node.kernel, *node.in_hw, node.stride, *node.padding,
                   node.dilation, node.groups, dtype)

    @property
    def id(self) -> str:
        return (f"n{self.batch}-c{self.c_in}-k{self.c_out}-{self.kernel_h}x{self.kernel_w}-{self.in_h}x{self.in_w}"
                f"-s{self.stride}-p{self.pad_h}x{self.pad_w}-d{self.dilation}-g{self.groups}-{self.dtype}")

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (size + 2 * pad - self.dilation * (k - 1) - 1) // self.stride + 1
            for size, pad, k in ((self.in_h, self.pad_h, self.kernel_h), (self.in_w, self.pad_w, self.kernel_w)))


def layer_shapes(spec: Workload) -> list[LayerShape]:
    """Every conv layer of the workload, in order, as cuDNN shapes."""
    return [LayerShape.of(node, spec.batch, spec.dtype) for node in convs(spec.nodes)]


def why_no_floor(spec: Workload, device: str) -> str | None:
    """Why a case has no library floor; None where it can have one."""
    if device != "cuda":
        return "the library floor enumerates cuDNN's plans: CUDA only"
    if spec.dtype not in DTYPES:
        return f"no cuDNN plans measured for {spec.dtype} (floors: {', '.join(DTYPES)})"
    return None


def unavailable(device: str) -> str | None:
    """Why no floor can be measured here; None where the frontend and a GPU are there."""
    import importlib.util

    if device != "cuda":
        return "the library floor enumerates cuDNN's plans: CUDA only (--device cuda)"
    if importlib.util.find_spec("cudnn") is None:
        return "cuDNN's frontend is not installed (pip install nvidia-cudnn-frontend; the gpu extra has it)"
    return None


def gpu_name() -> str:
    """The GPU's name as torch reports it (runs in the torch worker)."""
    import torch

    return torch.cuda.get_device_name()


def wanted(specs: list[Workload], device: str) -> list[tuple[LayerShape, str]]:
    """The distinct (layer shape, operation) pairs the sweep's cases need floors for."""
    pairs: dict[tuple[LayerShape, str], None] = {}
    for spec in specs:
        if why_no_floor(spec, device) is None:
            for shape in layer_shapes(spec):
                for operation in PASS_OPERATIONS[spec.pass_]:
                    pairs[(shape, operation)] = None
    return list(pairs)


# --- the measurement (runs in a torch worker on the GPU) ---------------------------------------------------------

def _cudnn_types(dtype: str):
    import cudnn
    import torch

    return {"float32": (cudnn.data_type.FLOAT, torch.float32), "tf32": (cudnn.data_type.FLOAT, torch.float32),
            "float16": (cudnn.data_type.HALF, torch.float16),
            "bfloat16": (cudnn.data_type.BFLOAT16, torch.bfloat16)}[dtype]


def plan_math(dtype: str) -> str:
    """Which plans a `dtype` floor may take, as its rows say."""
    if dtype == "float32":
        return f"IEEE float32: plans with numerical notes {' or '.join(IEEE_FLOAT32_DESELECTED)} deselected"
    return "every plan" + (" (TF32 tensor-core plans included)" if dtype == "tf32" else "")


def _tensors(shape: LayerShape, layout: str):
    """Input, weight and output tensors on the GPU in `layout` (NHWC: channels_last strides, logical NCHW)."""
    import torch

    _, torch_dtype = _cudnn_types(shape.dtype)
    memory = torch.channels_last if layout == "NHWC" else torch.contiguous_format
    generator = torch.Generator(device="cuda").manual_seed(0)

    def make(*dims: int) -> torch.Tensor:
        return torch.randn(*dims, device="cuda", generator=generator).to(torch_dtype).to(memory_format=memory)

    out_h, out_w = shape.out_hw
    x = make(shape.batch, shape.c_in, shape.in_h, shape.in_w)
    w = make(shape.c_out, shape.c_in // shape.groups, shape.kernel_h, shape.kernel_w)
    y = make(shape.batch, shape.c_out, out_h, out_w)
    return x, w, y


def _graph(shape: LayerShape, operation: str, layout: str, handle):
    """The cuDNN graph of one operation, its plans built; (graph, variant pack), or a reason string."""
    import cudnn

    io_type, _ = _cudnn_types(shape.dtype)
    x, w, y = _tensors(shape, layout)
    graph = cudnn.pygraph(io_data_type=io_type, intermediate_data_type=cudnn.data_type.FLOAT,
                          compute_data_type=cudnn.data_type.FLOAT, handle=handle)
    conv = {"padding": [shape.pad_h, shape.pad_w], "stride": [shape.stride] * 2, "dilation": [shape.dilation] * 2}
    if operation == "fprop":
        image, weight = graph.tensor_like(x), graph.tensor_like(w)
        out, result = graph.conv_fprop(image=image, weight=weight, **conv), y
        pack = {image: x, weight: w}
    elif operation == "dgrad":
        loss, weight = graph.tensor_like(y), graph.tensor_like(w)
        out, result = graph.conv_dgrad(loss=loss, filter=weight, **conv), x
        pack = {loss: y, weight: w}
    else:
        image, loss = graph.tensor_like(x), graph.tensor_like(y)
        out, result = graph.conv_wgrad(image=image, loss=loss, **conv), w
        pack = {image: x, loss: y}
    out.set_output(True).set_dim(list(result.shape)).set_stride(list(result.stride()))
    pack[out] = result
    graph.validate()
    graph.build_operation_graph()
    try:
        graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.B, cudnn.heur_mode.FALLBACK])
    except Exception:  # mode B has no answer for some shapes: A and the fallback list still do
        graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    if shape.dtype == "float32":  # IEEE float32: no TF32 (tensor-core) or down-converting plan
        graph.deselect_numeric_notes([getattr(cudnn.numerical_note, note) for note in IEEE_FLOAT32_DESELECTED])
    graph.check_support()
    graph.build_plans(cudnn.build_plan_policy.ALL)
    return graph, pack


def _time_plans(graph, pack: dict, handle) -> list[dict]:
    """Every plan of the graph executed PLAN_CALLS times under torch.profiler, each inside its own host range with
    a synchronise at its end; its kernels are the device records that start within that range."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    plans = []
    for index in range(int(graph.get_execution_plan_count())):
        plan: dict = {"index": index}
        try:  # a plan deselected by its numerical notes (IEEE float32) is listed but not built: "did not build"
            plan.update(plan=str(graph.get_plan_name_at_index(index)),
                        workspace_bytes=int(graph.get_workspace_size_plan_at_index(index)))
            plan["workspace"] = torch.empty(max(plan["workspace_bytes"], 1), device="cuda", dtype=torch.uint8)
            graph.execute_plan_at_index(pack, plan["workspace"], index=index, handle=handle)  # warm-up; fails if unfit
            torch.cuda.synchronize()
            plans.append(plan)
        except Exception as error:  # not built, or a built plan that refuses this shape: no candidate
            plan["error"] = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for plan in plans:
            with record_function(f"convbench-plan-{plan['index']}"):
                for _ in range(PLAN_CALLS):
                    graph.execute_plan_at_index(pack, plan["workspace"], index=plan["index"], handle=handle)
                torch.cuda.synchronize()
    events = prof.events()
    ranges = {int(e.name.rsplit("-", 1)[1]): (e.time_range.start, e.time_range.end) for e in events
              if e.device_type == DeviceType.CPU and e.name.startswith("convbench-plan-")}
    kernels = [e for e in events if e.device_type == DeviceType.CUDA and not e.name.startswith("convbench-plan-")
               and "memcpy" not in e.name.lower() and "memset" not in e.name.lower()]
    for plan in plans:
        start, end = ranges[plan["index"]]
        mine = [k for k in kernels if start <= k.time_range.start <= end]
        plan["us"] = sum(k.time_range.elapsed_us() for k in mine) / PLAN_CALLS if mine else math.nan
        plan["kernels"] = "; ".join(sorted({k.name[:80] for k in mine}))
        del plan["workspace"]
    return plans


def floor_layouts() -> tuple[str, ...]:
    """The layouts to measure: LAYOUTS, or those named in CONVBENCH_FLOOR_LAYOUTS (comma-separated)."""
    named = [name.strip().upper() for name in os.environ.get(LAYOUTS_VARIABLE, "").split(",") if name.strip()]
    unknown = [name for name in named if name not in LAYOUTS]
    if unknown:
        raise ValueError(f"{LAYOUTS_VARIABLE}={os.environ[LAYOUTS_VARIABLE]}: unknown layout {unknown[0]}; valid: "
                         f"{', '.join(LAYOUTS)}")
    return tuple(named) or LAYOUTS


def measure_floors(pairs: list[tuple[dict, str]]) -> list[dict]:
    """For each (LayerShape as a dict, operation): the fastest plan in each layout, as FLOORS_FILE rows. Runs in a
    torch worker on the GPU; a layout or operation cuDNN cannot build gives a row with its reason."""
    import cudnn
    import torch

    handle = cudnn.create_handle()
    gpu = torch.cuda.get_device_name()
    rows = []
    for shape_fields, operation in pairs:
        shape = LayerShape(**shape_fields)
        for layout in floor_layouts():
            row = {"gpu": gpu, "cudnn": cudnn.backend_version(), "shape_id": shape.id, **asdict(shape),
                   "operation": operation, "layout": layout, "plan_math": plan_math(shape.dtype)}
            try:
                graph, pack = _graph(shape, operation, layout, handle)
                plans = _time_plans(graph, pack, handle)
            except Exception as error:  # this layout has no plan for the shape: the other may
                rows.append({**row, "plans": 0, "reason": (str(error).splitlines() or [type(error).__name__])[0]})
                continue
            timed = [p for p in plans if p.get("us") == p.get("us") and "error" not in p]
            if not timed:
                rows.append({**row, "plans": len(plans), "reason": "no plan ran"})
                continue
            best = min(timed, key=lambda p: p["us"])
            rows.append({**row, "plans": int(graph.get_execution_plan_count()), "plans_timed": len(timed),
                         "best_us": best["us"], "best_plan": best["plan"], "workspace_bytes": best["workspace_bytes"],
                         "kernels": best["kernels"], "median_plan_us": float(pd.Series([p["us"] for p in timed])
                                                                             .median()), "reason": ""})
        torch.cuda.empty_cache()
    return rows


# --- the run directory's cache, and a case's floor ----------------------------------------------------------------

@dataclass(frozen=True)
class Floors:
    """A run's library floors: (shape id, operation) -> the fastest plan over the layouts (best_by_layer), or why
    none could be measured in this run."""

    best: dict[tuple[str, str], dict]
    why_not: str | None = None


def read_floors(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / FLOORS_FILE
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else pd.DataFrame()


def _current(floors: pd.DataFrame) -> pd.DataFrame:
    """The cached floors that hold today: a float32 floor measured before IEEE float32 deselected TF32 plans (no
    plan_math) is none, and is measured again."""
    if floors.empty or "dtype" not in floors:
        return floors
    plan_math_recorded = floors["plan_math"].notna() if "plan_math" in floors else pd.Series(False, floors.index)
    return floors[floors["dtype"].ne("float32") | plan_math_recorded]


def missing(floors: pd.DataFrame, pairs: list[tuple[LayerShape, str]], gpu: str) -> list[tuple[LayerShape, str]]:
    """The pairs with no row for this GPU in the cache yet."""
    floors = _current(floors)
    if floors.empty:
        return pairs
    have = set(zip(floors.loc[floors["gpu"] == gpu, "shape_id"], floors.loc[floors["gpu"] == gpu, "operation"],
                   strict=True))
    return [(shape, operation) for shape, operation in pairs if (shape.id, operation) not in have]


def append_floors(run_dir: Path, rows: list[dict]) -> pd.DataFrame:
    """Add measured rows to the run directory's cache (replaced atomically); return the whole cache."""
    floors = pd.concat([read_floors(run_dir), pd.DataFrame(rows)], ignore_index=True)
    replace_text(Path(run_dir) / FLOORS_FILE, lambda tmp: floors.to_csv(tmp, index=False))
    return floors


def best_by_layer(floors: pd.DataFrame, gpu: str) -> dict[tuple[str, str], dict]:
    """(shape id, operation) -> the fastest plan over the layouts: {us, plan, layout, workspace_bytes}."""
    floors = _current(floors)
    if floors.empty or "best_us" not in floors:
        return {}
    mine = floors[floors["gpu"] == gpu]
    tried = mine.groupby(["shape_id", "operation"])["layout"].agg(lambda layouts: tuple(sorted(set(layouts))))
    timed = mine[mine["best_us"].notna()]
    best = timed.loc[timed.groupby(["shape_id", "operation"])["best_us"].idxmin()]
    return {(r.shape_id, r.operation): {"us": float(r.best_us), "plan": r.best_plan, "layout": r.layout,
                                        "workspace_bytes": int(r.workspace_bytes),
                                        "layouts": tried[(r.shape_id, r.operation)]} for r in best.itertuples()}


def case_floor(spec: Workload, device: str, floors: Floors) -> dict[str, object]:
    """A case's library-floor columns: the sum over its layers (and the pass's operations) of each one's fastest
    plan, the plans it took, and how it was measured; or the reason there is none."""
    best = floors.best
    why = why_no_floor(spec, device) or floors.why_not
    if why:
        return {"library_floor_method": f"not measured: {why}"}
    parts = [(shape, operation, best.get((shape.id, operation))) for shape in layer_shapes(spec)
             for operation in PASS_OPERATIONS[spec.pass_]]
    absent = [f"{shape.id} {operation}" for shape, operation, found in parts if found is None]
    if absent:
        return {"library_floor_method": f"not measured: no floor in {FLOORS_FILE} for {absent[0]} (no cuDNN plan "
                                        "ran, or the measurement stopped before it)"
                                        + (f" and {len(absent) - 1} more layer operations" if len(absent) > 1 else "")}
    plans = list(dict.fromkeys(f"{operation} {found['layout']} {found['plan']}" for _, operation, found in parts))
    narrowed = [found for _, _, found in parts if tuple(found.get("layouts", LAYOUTS)) != tuple(sorted(LAYOUTS))]
    method = METHOD + f"; {plan_math(spec.dtype)}" + (f"; {len(narrowed)} of {len(parts)} layer operations in "
                       f"{' and '.join(sorted({'/'.join(found['layouts']) for found in narrowed}))} only "
                       f"({LAYOUTS_VARIABLE}): a looser floor there" if narrowed else "")
    return {"library_floor_ms": sum(found["us"] for _, _, found in parts) / 1e3,
            "library_floor_plan": "; ".join(plans[:3]) + (f"; {len(plans) - 3} more" if len(plans) > 3 else ""),
            "library_floor_method": method}


def layer_floor_ms(node: ConvNode, spec: Workload, floors: Floors) -> float:
    """One layer's forward floor (ms), NaN where not measured."""
    found = floors.best.get((LayerShape.of(node, spec.batch, spec.dtype).id, "fprop"))
    return found["us"] / 1e3 if found else math.nan
