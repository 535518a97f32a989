"""report.md and its pictures for one run directory, from results.csv, env.json and graphs.csv alone."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import pandas as pd

from convbench.analysis.above_ceiling import CAUSES, above_ceiling_table, ceiling_lines, with_ceiling_flags
from convbench.analysis.answers import answers
from convbench.analysis.fastest import fastest_as_runtime, fastest_table
from convbench.analysis.findings import findings
from convbench.analysis.floor_gap import GAP, gap_table
from convbench.analysis.floor_gap import floor_lines as library_floor_lines
from convbench.analysis.floor_gap import floor_table as library_floor_table
from convbench.analysis.kernels import launch_view, read_kernels, what_ran
from convbench.analysis.machines_side_by_side import machines_answer, machines_table, one_machine_per_device
from convbench.analysis.memory_energy import memory_energy_lines, memory_energy_table
from convbench.analysis.native_vs_onnx import native_vs_onnx
from convbench.analysis.networks import (
    depthwise_verdicts,
    empty_kernel_reasons,
    kind_shares,
    network_times,
    slowest_for_flops,
)
from convbench.analysis.overhead import kernel_split, overhead_paragraph
from convbench.analysis.pictures import Figure, Lines, draw_png
from convbench.analysis.precision import precision_speedups
from convbench.analysis.ratios import GROUP, label, times_at_largest_channels, vs_conv3x3
from convbench.analysis.seed_table import STEP_TIME_ROW, TIME_ROW, seed_tables
from convbench.analysis.training import cheapest_lines, phase_split, step_costs, train_vs_deploy
from convbench.analysis.trust import (
    bare_vs_workers,
    conditions_lines,
    first_result,
    latency_vs_throughput,
    read_conditions,
    read_processes,
    spread_summary,
    unfinished_cases,
    unstable_cases,
)
from convbench.analysis.whole_models import KINDS, fastest_lines, kernel_shares, whole_model_table
from convbench.analysis.workloads import is_whole_model, network_rows, pass_rows, seed_rows, whole_model_rows
from convbench.csvfile import read_csv_checked, replace_text
from convbench.malloc_settings import ENVIRONMENT as MALLOC_ENVIRONMENT
from convbench.models.variants import VARIANTS
from convbench.models.whole import WHOLE_MODELS
from convbench.ranking import Rounds, round_values
from convbench.results import GRAPHS_FILE, read_env, read_if_present, read_results


def seed_2017() -> pd.DataFrame:
    """The 2017 experiment's published figures (C=64), as kept in this repository with their source."""
    with resources.files("convbench.analysis").joinpath("seed_2017.csv").open() as handle:
        return pd.read_csv(handle, comment="#")


def seed_2017_source() -> str:
    with resources.files("convbench.analysis").joinpath("seed_2017.csv").open() as handle:
        return handle.readline().lstrip("# ").strip()


def _md(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = True) -> str:
    """A markdown table; NaN cells (not measured) are empty."""
    return frame.astype(object).where(frame.notna(), None).to_markdown(floatfmt=floatfmt, index=index,
                                                                        missingval="")


def _bullets(lines: list[str]) -> Lines:
    """Lines as a markdown list followed by a blank line; nothing for no lines."""
    return [*(f"- {line}" for line in lines), ""] if lines else []


def _seed_md(table: pd.DataFrame) -> str:
    """The seed table with 3 decimals like the seed's, but 4 significant digits for times under 1 s."""
    def cell(row: str, v: float) -> str:
        return f"{v:.4g}" if row in (TIME_ROW, STEP_TIME_ROW) and v < 1 else f"{v:.3f}"

    shown = pd.DataFrame({c: [cell(row, v) for row, v in table[c].items()]
                          for c in table.columns}, index=table.index).replace("nan", "")
    return shown.to_markdown(disable_numparse=True, colalign=("left", *["right"] * len(table.columns)))


def _non_default(key: tuple[str, ...]) -> tuple[str, ...]:
    """A group key for a file name: float32, the default dtype, left out (so float32 runs keep their names)."""
    return tuple(part for part in key if part != "float32")


def _file_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)) + ".png"


def _run_title(results: pd.DataFrame, run_dir: Path) -> str:
    """The run's id (as its rows record it), and the folder's name where that differs (a copied run)."""
    ids = sorted(str(i) for i in results["run_id"].dropna().unique()) if "run_id" in results else []
    if not ids or ids == [run_dir.name]:
        return f"run {run_dir.name}"
    return f"run {', '.join(ids)} (folder {run_dir.name})"


def write_report(run_dir: Path) -> Path:
    """Write run_dir/report.md and its PNGs; return the report's path."""
    run_dir = Path(run_dir)
    env = read_env(run_dir)
    kernels = read_kernels(run_dir)
    all_rows = with_ceiling_flags(read_results(run_dir / "results.csv"), env, kernels)
    every_row, left_out = one_machine_per_device(all_rows)
    forward, train = pass_rows(every_row, "forward"), pass_rows(every_row, "train")
    results, networks = seed_rows(forward), network_rows(forward)
    out: Lines = [f"# convbench report: {_run_title(every_row, run_dir)}", "",
                      "Generated from this folder's results.csv, processes.csv, conditions.jsonl and env.json; no "
                      "model was run to write it. Times are throughput per forward (forwards back to back, the "
                      "device synchronised once per sample; in the training-step section, per training step), the "
                      "median over fresh processes of each process's median; the 2017 unit is seconds per 100 "
                      "forwards of the 16-layer stack.", ""]
    processes = read_processes(run_dir)
    rounds = round_values(processes)
    out += answers(forward, train, every_row, read_if_present(run_dir / "layers.csv"),
                   read_conditions(run_dir / "conditions.jsonl"), env.get("cpu_count"),
                   unfinished_cases(all_rows, processes), rounds)
    out += _machines_section(all_rows, left_out)
    out += _environment(env)
    out += _whole_models_section(every_row, run_dir, kernels, rounds)
    out += _networks_section(networks, run_dir)
    if not results.empty:
        out += _seed_sections(results, env, run_dir, rounds)
    out += _training_section(train[~is_whole_model(train)], forward, rounds)
    out += _library_floor_section(every_row, kernels)
    out += _memory_energy_section(every_row)
    out += _trust_section(every_row, run_dir, env)
    out += _graphs_section(run_dir)
    out += _problems_section(every_row)
    path = run_dir / "report.md"
    replace_text(path, lambda tmp: tmp.write_text(_markdown(out, run_dir)))
    _html(run_dir, out, all_rows)
    return path


def _html(run_dir: Path, content: Lines, every_row: pd.DataFrame) -> None:
    """report.html beside report.md; left out, saying why, where plotly or itables is missing (a machine that
    installed convbench without its dependencies, as the GPU notes do)."""
    try:
        from convbench.analysis.html_report import write_html
    except ImportError as error:
        (run_dir / "report.html").unlink(missing_ok=True)
        print(f"report.html not written: {error} (pip install plotly itables markdown)", file=sys.stderr)
        return
    write_html(run_dir, content, every_row, _run_title(every_row, run_dir))


def _markdown(content: Lines, run_dir: Path) -> str:
    """report.md's text: each Figure drawn as a PNG beside it and shown by its file name."""
    lines = [f"![{item.alt}]({draw_png(item, run_dir).name})" if isinstance(item, Figure) else item
             for item in content]
    return "\n".join(lines) + "\n"


def _seed_sections(results: pd.DataFrame, env: dict, run_dir: Path, rounds: Mapping[tuple[str, ...], Rounds]
                   ) -> Lines:
    """Everything about the seed's stacks."""
    out = _seed_section(results)
    out += _native_vs_onnx_section(results)
    out += _against_2017(results)
    out += ["## Findings: the 2017 conclusions on this run", ""]
    for i, finding in enumerate(findings(results, rounds), 1):
        out += [f"{i}. **{finding.claim}** {finding.text}", ""]
    out += _precision_section(results)
    out += _fastest_section(results, rounds)
    out += _first_result_section(results)
    out += _latency_section(results)
    out += _kernel_section(results, env, run_dir)
    return out


def _training_section(train: pd.DataFrame, forward: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> Lines:
    """The train pass: a step's cost per conv type against its forward and its FLOPs, cheapest to train vs to
    deploy, the 2017 table and conclusions on the step, where the step's kernel time goes, and networks' steps."""
    if train.empty:
        return []
    out = ["## The training step", "",
           "A training step here is one forward, the loss = the output's sum (in float32), and the gradients of the "
           "input and of every conv weight, with no optimizer: every layer runs its forward, its backward-data and "
           "its backward-weights, so a step counts 3x the forward's FLOPs. Each runtime's gradients were checked "
           "against PyTorch float32's on the CPU before it was timed. Times are ms per step (the `ms_per_forward` "
           "column of a train row); the ONNX runtimes and model.predict run inference only.", ""]
    seed_train, seed_forward = seed_rows(train), seed_rows(forward)
    costs = step_costs(seed_train, seed_forward)
    if not costs.empty:
        out += ["### What a step costs per conv type", "",
                "At each runtime's largest channel count. `step / forward` is the step over the same case's forward "
                "(3 if the backward cost twice the forward, as FLOPs say); `step vs conv3x3` against `FLOPs vs "
                "conv3x3` says whether a conv type keeps its FLOP advantage in training.", "",
                _md(costs, ".3g", index=False), ""]
    if costs.empty or costs["ms per forward"].isna().all():
        out += ["No forward of the same cases in this run: `step / forward` and the cheapest-to-deploy comparison "
                "need `--pass forward train` (or a forward run resumed into the same run directory).", ""]
    both = train_vs_deploy(seed_train, seed_forward)
    if not both.empty:
        out += ["### Cheapest to train, cheapest to deploy", "",
                *[f"- {line}" for line in cheapest_lines(both)], "",
                "The fastest way each conv type ran in this run, per pass:", "", _md(both, ".3g", index=False), ""]
    if not seed_train.empty:
        out += ["### The 2017 conclusions, re-tested on the training step", ""]
        for i, finding in enumerate(findings(seed_train, rounds), 1):
            out += [f"{i}. **{finding.claim}** {finding.text}", ""]
        out += _seed_section(seed_train, "The 2017 table for the training step, per runtime", STEP_TIME_ROW,
                             "seed-train", "seconds per 100 training steps")
    first_step = first_result(seed_train).rename(columns={
        "first forward": "first step", "steady forward": "steady step", "time to first result": "time to first step"})
    if not first_step.empty:
        out += ["### Time to the first step", "",
                "Milliseconds, medians over the conv types at each runtime's largest channel count: importing the "
                "framework in a fresh process, set-up (building the model; compiling or capturing where the runtime "
                "does so before the first step), the first step (tracing and compiling the backward where that "
                "happens on the first call, as in tf.function and XLA; the backward's algorithm search), their sum, "
                "and the steady step for scale."
                + (" *Compile cache*, for torch.compile: cold where inductor compiled the graphs itself, warm where "
                   "its on-disk cache served them." if "compile cache" in first_step else ""), "",
                _md(first_step, ".4g", index=False), ""]
    phases = phase_split(seed_train)
    if not phases.empty:
        out += ["### Where a step's kernel time goes", "",
                "ms per step from each runtime's profiler (a separate run): the convolutions' forward, backward-data "
                "and backward-weights kernels, the other kernels (the loss, layout changes, GEMMs whose name does not "
                "say their direction) and the overhead (the timed median less all kernels). Empty: not told apart "
                "(the `how` column says why).", "", _md(phases, ".3g", index=False), ""]
    networks = network_rows(train)
    if not networks.empty:
        steps = network_times(networks).rename(columns={"ms per forward": "ms per step"})
        out += ["### Real networks' training step", "", "Per network, batch and dtype, fastest first.", "",
                _md(steps, ".4g", index=False), "", *_bullets(empty_kernel_reasons(networks))]
    return out


def _library_floor_section(results: pd.DataFrame, kernels: pd.DataFrame) -> Lines:
    table = library_floor_table(results)
    if table.empty:
        return []
    gaps = gap_table(results, kernels)
    gap_lines = ([f"Where the fastest runtime is more than {GAP}x the floor ({len(gaps)} workloads), the cause from "
                  "its profile:", "", _md(gaps, ".3g", index=False), ""] if not gaps.empty else
                 [f"Every workload's fastest runtime is within {GAP}x its floor.", ""])
    return ["## How far from the best kernel", "",
            "The library floor of a case is the sum over its conv layers (in a training step, their dgrad and wgrad "
            "too) of the fastest plan cuDNN's frontend offers for the layer's exact shape: every plan of heuristic "
            "modes A and B and the fallback list, in NCHW and NHWC, timed by its kernels' device durations "
            "(library_floors.csv beside this report has every layer). `time / floor` is the runtime's timed ms over "
            "it, launches and gaps included; `kernel / floor` its profiled kernel time over it. Below 1 the runtime's "
            "kernels beat every plan cuDNN offered: a kernel outside cuDNN's list (PyTorch's own depthwise kernels, "
            "a Triton kernel of torch.compile) or a fused one. Seed stacks at each runtime's largest channel count."
            + _narrowed_floor(results),
            "", *[f"- {line}" for line in library_floor_lines(results)], "", *gap_lines,
            _md(table, ".3g", index=False), ""]


def _memory_energy_section(results: pd.DataFrame) -> Lines:
    """Peak memory and energy per forward of each runtime, per workload, and time against memory."""
    table = memory_energy_table(results)
    if table.empty:
        return []
    out: Lines = ["## Memory and energy", "",
                  "What each case added at its most, above what its worker held before it (host: the peak resident "
                  "set; device: the framework's allocator, or NVML), and the energy its throughput samples spent (the "
                  "hardware's counter: NVML on CUDA, RAPL on the CPU where exposed). Memory a worker's earlier case "
                  "kept counts as there before, so these are lower bounds; the most of any process is kept. Seed "
                  "stacks at each runtime's largest channel count.", "",
                  *memory_energy_lines(table, results), "", _md(table, ".3g", index=False), ""]
    for (device, dtype, pass_), group in table.groupby(["device", "dtype", "pass"], sort=False):
        if group["workload"].nunique() * group["runtime"].nunique() > 1:
            out += [Figure("memory", group.reset_index(drop=True), f"time against memory ({device} {dtype} {pass_})",
                           _file_name("memory", device, dtype, pass_), f"time against memory, {device} {dtype}"), ""]
    return out


def _narrowed_floor(results: pd.DataFrame) -> str:
    """A sentence where some layers' floors were measured in one layout only (CONVBENCH_FLOOR_LAYOUTS)."""
    methods = results.get("library_floor_method", pd.Series(dtype=object)).dropna().astype(str)
    narrowed = methods[methods.str.contains(" only (CONVBENCH_FLOOR_LAYOUTS)", regex=False)]
    if narrowed.empty:
        return ""
    return (f" In {len(narrowed)} case(s) some layers were measured in one layout only (CONVBENCH_FLOOR_LAYOUTS; "
            "each case's library_floor_method says how many): their floor is the best of that layout, a looser "
            "bound than the best of both.")


def _whole_models_section(results: pd.DataFrame, run_dir: Path, kernels: pd.DataFrame | None,
                          rounds: Mapping[tuple[str, ...], Rounds]) -> Lines:
    """Whole networks as deployed: the fastest runtime end to end, native vs ONNX, multiply-adds, the conv share,
    memory and energy."""
    whole = whole_model_rows(results)
    if whole.empty:
        return []
    models = set(whole["model"])
    graphs = read_csv_checked(run_dir / GRAPHS_FILE) if (run_dir / GRAPHS_FILE).exists() else None
    shares = kernel_shares(kernels)
    table = whole_model_table(results, graphs, shares)
    out: Lines = ["## Whole networks", "",
                  "Each network with every layer as its library defines it (batch norm, activations, pooling, the "
                  "classifier; weights=None, initialised from the seed, batch norms' statistics taken from one seeded "
                  "batch, eval mode): torchvision's model for the torch sources, keras.applications' for keras, "
                  "tf2onnx and tflite. Each is checked against its own library's float32 output, never the other's: "
                  "the two libraries' models are not the same network. GMACs: the multiply-adds of the row's model, "
                  "counted from its exported ONNX graph (convolutions and matrix products; GMAC/s counts a training "
                  "step as 3x them). conv-only: the same network's `--networks` case (its conv layers alone, at "
                  "torchvision's shapes also beside a Keras model: ResNet-50's v1.5) in the same runtime and source "
                  "framework, where the run has it. conv kernel share: convolution kernels (fused ones included) "
                  "over all the profiled kernel time.",
                  ""]
    differences = [f"- {name}: {d.differences}" for name, d in WHOLE_MODELS.items() if d.differences and name in models]
    if differences:
        out += ["Where the two libraries' definitions differ:", "", *differences, ""]
    out += [*fastest_lines(results, table, rounds), ""]
    if not table.empty:
        out += [_md(table, ".3g", index=False), ""]
    if not shares.empty:
        out += ["### Where a whole network's kernel time goes, by op kind", "",
                "Each profiled row's kernel time split by what its kernels' names say they are (CPU runtimes: "
                "operator times; a fused kernel counts as fused conv where its name says so, and OpenVINO names its "
                "fused convolutions Convolution). Fractions of the row's kernel time.", "",
                _md(shares[["stack_id", "runtime", "source", "device", *KINDS]], ".2f", index=False), ""]
    return out


def _networks_section(networks: pd.DataFrame, run_dir: Path) -> Lines:
    """Real networks' conv layers: times, where the time goes by conv kind, the slowest layers for their FLOPs,
    and the depthwise conclusion re-tested."""
    if networks.empty:
        return []
    layers = read_if_present(run_dir / "layers.csv")
    out = ["## Real networks' conv layers", "",
           "Every conv layer of each network at its real shape (torchvision's definitions: MobileNetV2 width 1.0, "
           "ResNet-50 v1.5, EfficientNet-B0) on 224x224 input, bias-free, chained as the network chains them, with "
           "its residual adds, projection shortcuts and squeeze-excite convs. Left out, as in the 2017 stacks: BN, "
           "activations, the final pooling and the classifier (1.28M multiply-adds in MobileNetV2 and "
           "EfficientNet-B0, 2.05M in ResNet-50). Kept because a layer's real input needs them: ResNet-50's stem max "
           "pool, and squeeze-excite's global mean (its result is added back in place of the sigmoid-and-scale).", "",
           _md(network_times(networks), ".4g", index=False), "", *_bullets(empty_kernel_reasons(networks))]
    shares = kind_shares(layers, networks)
    if shares.empty:
        profiled = "kernel_ms_per_forward" in networks and networks["kernel_ms_per_forward"].notna().any()
        out += [("No per-layer kernel times: the profiled runtimes' kernels could not be matched to the layers (a "
                 "compiled or captured network, a training step; each row's kernel_method says why)." if profiled else
                 "No per-layer kernel times in this run (run `bench --profile`; a compiled or captured runtime's "
                 "profiler does not tell its layers apart)."), ""]
        return out
    out += ["### Where the time goes, by conv kind", "",
            "Each kind's share of the conv FLOPs and of the conv kernel time in each runtime whose profiler timed "
            "every layer (layers.csv; kernel times as profiled). A kind whose time share exceeds its FLOP share "
            "costs more than its FLOPs predict.", ""]
    for (network, batch, dtype), group in shares.groupby(["network", "batch", "dtype"], sort=False):
        group = group.dropna(axis=1, how="all")  # the runtimes of other groups
        picture = Figure("kinds", group, f"{network}, batch {batch}, {dtype}: time share vs FLOP share",
                         _file_name("kinds", network, f"b{batch}", *_non_default((dtype,))),
                         f"{network} time share vs FLOP share")
        table = group.drop(columns=["network", "batch", "dtype"])
        out += [f"**{network}, batch {batch}, {dtype}**", "", _md(table, ".3f", index=False), "", picture, ""]
    out += ["### The seed's depthwise conclusion, inside real networks", ""]
    out += [f"- {line}" for line in depthwise_verdicts(shares)] or ["- No depthwise network was profiled."]
    out += ["", "### The layers slowest for their FLOPs", "",
            _md(slowest_for_flops(layers, networks), ".3g", index=False), ""]
    return out


def _machines_section(results: pd.DataFrame, left_out: dict[str, list[str]]) -> list[str]:
    """Machines side by side, where more than one machine timed the same workloads (a cluster's or a merged run)."""
    table = machines_table(results)
    out = []
    if not table.empty:
        out += ["## Machines side by side", "", *machines_answer(table), "",
                "Per workload, each machine's fastest way: ms per forward (per training step in the train pass), the "
                "range between its fresh processes' medians in brackets, and the runtime[source]/device that ran it. "
                "*beyond spread*: the fastest machine's slowest process beat the next machine's fastest one.", "",
                _md(table, ".3g", index=False), ""]
    if left_out:
        out += ["The sections below read one machine per device (the one with the most ok rows); left out of them: "
                + "; ".join(f"{device}: {', '.join(names)}" for device, names in left_out.items())
                + ". Their rows are in the table above and in report.html's every-result table.", ""]
    return out


def _environment(env: dict) -> list[str]:
    if not env:
        return ["## Environment", "", "No env.json in this run directory.", ""]
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    gpus = "; ".join(f"{g['name']} (driver {g['driver']}, {g['memory']})" for g in env.get("gpus", [])) or "none"
    threads = env.get("threads", {})
    several = len(env.get("machines") or {}) > 1
    return ["## Environment", "",
            *(["The first lines are the machine that started the run (of a merged run, its first run's); each "
               "machine that timed rows follows, with its nodes and ceilings.", ""] if several else []),
            f"- CPU: {env.get('cpu_model')} ({env.get('cpu_count')} cores, {env.get('cpu_affinity')} usable)",
            f"- GPU: {gpus}",
            f"- threads: {threads.get('intra_op')} intra-op, {threads.get('inter_op')} inter-op, every CPU runtime",
            f"- malloc: {env.get('malloc') or 'glibc as each worker started (runs before convbench pinned it)'}",
            f"- Python {env.get('python')} on {env.get('platform')}",
            f"- versions: {versions}",
            f"- environment id {env.get('env_id')}",
            *[line for device, ceilings in (env.get("ceilings") or {}).items() for line in ceiling_lines(ceilings,
                                                                                                       device)],
            *_machine_lines(env), ""]


def _machine_lines(env: dict) -> list[str]:
    """env.json's machines (a cluster's nodes, or the runs a merge joined): each one's nodes and ceilings."""
    lines = []
    for name_, entry in (env.get("machines") or {}).items():
        nodes = "; ".join(f"{name} on {node.get('host', '?')} ({node.get('cpu_model')}, "
                          f"{(node.get('threads') or {}).get('intra_op')} threads, env {node.get('env_id')})"
                          for name, node in (entry.get("nodes") or {}).items())
        lines.append(f"- machine **{name_}** ({entry.get('device')}): {nodes or 'no node recorded'}")
        lines += ["  " + line for device, ceilings in (entry.get("ceilings") or {}).items()
                  for line in ceiling_lines(ceilings, device)]
    return lines


def _trust_section(results: pd.DataFrame, run_dir: Path, env: dict) -> list[str]:
    out = ["## How far the numbers can be trusted", ""]
    spread = spread_summary(results)
    if spread.empty:
        out += ["This run has no per-process figures (it predates repeats in fresh processes).", ""]
    else:
        out += ["Each case was timed in fresh worker processes, each running its family's cases in another order. "
                "*Spread* is (slowest - fastest process median) / median; a case is **unstable** when its spread "
                "exceeds both 10% and four times its within-process IQR: its processes disagree far beyond what "
                "each one's own samples vary by, so its figure depends on which process you got.", "",
                _md(spread, ".3g", index=False), ""]
        unstable = unstable_cases(results, read_processes(run_dir))
        if unstable.empty:
            out += ["No case was unstable.", ""]
        else:
            out += [f"{len(unstable)} unstable case(s), with each process's median:", "",
                    _md(unstable, ".3g", index=False), ""]
    bare = bare_vs_workers(read_if_present(run_dir / "bare.csv"), read_processes(run_dir))
    if not bare.empty:
        out += ["### convbench's workers against a user's own script", "",
                "In each round plain fresh Python processes (convbench.bare_reference: the same model built as a "
                "user would, timed by torch.utils.benchmark or a bare session.run loop, no convbench worker around "
                "it) timed these cases after convbench's workers"
                + (": one with glibc's malloc pinned as the workers have it, one as a plain script starts it "
                   "(convbench.malloc_settings)" if "bare ms (malloc pinned)" in bare
                   else ", with glibc's malloc as a plain script starts it")
                + ". worker / bare near 1 means a worker runs as that process does.", ""]
        out += [f"- {line}" for line in _bare_lines(bare)]
        out += ["", _md(bare, ".3g", index=False), ""]
    out += ["Conditions while it ran:", ""]
    out += [f"- {line}" for line in conditions_lines(read_conditions(run_dir / "conditions.jsonl"),
                                                     env.get("cpu_count"))]
    return [*out, ""]


def _bare_lines(bare: pd.DataFrame) -> list[str]:
    """One line per reference case: worker / bare over its rounds, against each bare process (median and range);
    and how a user's script gets the workers' malloc."""
    lines = []
    for case, rows in bare.groupby("case", sort=False):
        parts = [f"{column}: median {ratio.median():.2f} (rounds {ratio.min():.2f}-{ratio.max():.2f})"
                 for column in ("worker / bare pinned", "worker / bare default")
                 if column in rows and not (ratio := rows[column].dropna()).empty]
        lines.append(f"{case}: {'; '.join(parts) or 'no worker row to compare'}")
    setting = " ".join(f"{name}={value}" for name, value in MALLOC_ENVIRONMENT.items())
    return [*lines, f"A script of your own runs with the workers' malloc given `{setting}` in its environment."]


def _precision_section(results: pd.DataFrame) -> Lines:
    table = precision_speedups(results)
    if table.empty:
        return []
    picture = Figure("precision", table, "what lower precision buys, per conv type", "precision.png",
                     "what lower precision buys")
    return ["## What lower precision buys", "",
            "Per runtime and conv type: float32 ms / that dtype's ms at the same channel count (above 1: faster), "
            "and the dtype's worst relative error against the float32 reference (int8 is measured against it, "
            "not hidden; each row's own error is in results.csv). The 2017 table per dtype is above.", "",
            _md(table, ".3g", index=False), "", picture, ""]


def _fastest_section(results: pd.DataFrame, rounds: Mapping[tuple[str, ...], Rounds]) -> list[str]:
    table = fastest_table(results)
    if table.empty or results[results["status"] == "ok"][["runtime", "source"]].drop_duplicates().shape[0] < 2:
        return []
    out = ["## The fastest way to run each conv", "",
           "Per device, channel count and conv type: the fastest runtime or configuration of this run, its speed-up "
           "over each framework's plain default (default ms / fastest ms; empty where the default was not run), "
           "and its time against the roofline floor (floor / time as a percentage; \"above ceiling\" with the likely "
           "cause where it beat the floor: \"Cases above the ceiling\" below).", "", _md(table, ".3g", index=False), "",
           "The 2017 conclusions, re-tested on the fastest configuration of each case:", ""]
    for i, finding in enumerate(findings(fastest_as_runtime(results), rounds), 1):
        out += [f"{i}. **{finding.claim}** {finding.text}", ""]
    return out


def _first_result_section(results: pd.DataFrame) -> list[str]:
    table = first_result(results)
    if table.empty:
        return []
    return ["## Time to first result", "",
            "Milliseconds, medians over the conv types at each runtime's largest channel count: importing the "
            "framework in a fresh process, set-up (building or loading the model, creating the session, and "
            "compiling, tracing or capturing where the runtime does so before the first forward), the first forward "
            "(lazy initialisation and algorithm search), and their sum. The steady forward is the throughput "
            "figure, for scale."
            + (" *Compile cache*, for torch.compile: cold where inductor compiled the graphs itself (the figures are "
               "then those processes' medians), warm where its on-disk cache from an earlier process or run served "
               "them, which is no cold start." if "compile cache" in table else ""),
            "", _md(table, ".4g", index=False), ""]


def _latency_section(results: pd.DataFrame) -> list[str]:
    p50 = latency_vs_throughput(results, "latency_ms_p50")
    if p50.empty:
        return []
    ratio = p50 / latency_vs_throughput(results, "ms_per_forward")
    p99 = latency_vs_throughput(results, "latency_ms_p99")
    return ["## Latency beside throughput", "",
            "Latency: each forward synchronised and timed alone (p50, p99 over the single forwards of each process, "
            "median over processes). Throughput lets a forward's launches overlap the previous forward's device work; "
            "on a synchronous CPU runtime the two coincide. At each runtime's largest channel count:", "",
            "Latency p50 over throughput: about 1 on a synchronous runtime (a little below where a few slow forwards "
            "raise the mean that throughput counts), above 1 where a forward's launches overlap the device work of "
            "the one before:", "", _md(ratio, ".3g"), "",
            "Latency p99, ms per forward:", "", _md(p99, ".4g"), ""]


def _seed_section(results: pd.DataFrame, title: str = "## The 2017 table, per runtime",
                  time_row: str = TIME_ROW, picture_prefix: str = "seed", unit: str = "seconds per 100 forwards"
                  ) -> Lines:
    out = [title if title.startswith("#") else f"### {title}", ""]
    for key, channels, table in seed_tables(results, time_row):
        name = label(*key)
        out += [f"{'###' if title.startswith('## ') else '####'} {name}", "", f"At C={channels}:", "",
                _seed_md(table), ""]
        group = results[(results[GROUP] == list(key)).all(axis=1) & (results["status"] == "ok")]
        compact = (group.pivot_table(index="variant", columns="channels", values="ms_per_forward", aggfunc="median")
                   .reindex([v for v in VARIANTS if v in set(group["variant"])]) * 100 / 1e3)
        compact.columns = [f"C={c}" for c in compact.columns]
        picture = Figure("seed", group, f"{name}: time vs filters", _file_name(picture_prefix, *_non_default(key)),
                         name)
        out += [f"Every channel count, {unit}:", "", _md(compact, ".4g"), "", picture, ""]
    return out


def _native_vs_onnx_section(results: pd.DataFrame) -> Lines:
    table = native_vs_onnx(results)
    out = ["## Native vs ONNX: what the framework adds around the same kernels", ""]
    if table.empty:
        return [*out, "Not measured: the run lacks a native runtime and onnxruntime on its export.", ""]
    view = table[["framework", "device", "dtype", "channels", "variant", "native", "native_ms", "onnx", "onnx_ms",
                  "onnx_vs_native"]]
    headline = table[table["dtype"] == table["dtype"].iloc[0]]  # the plot: the run's first dtype (float32)
    picture = Figure("native_vs_onnx", headline, "native vs ONNX", "native-vs-onnx.png", "native vs ONNX")
    out += ["ms per forward; `onnx_vs_native` below 1 means onnxruntime runs the exported graph faster than the "
            "framework runs its own model.", "", _md(view, ".4g", index=False), "",
            picture, ""]
    return out


def _against_2017(results: pd.DataFrame) -> list[str]:
    seed = seed_2017()
    rows = {f"2017 {r.framework} {r.device} ({r.setting})": g.set_index("variant")["vs_conv3x3"]
            for r, g in ((g.iloc[0], g) for _, g in seed.groupby(["framework", "device", "setting"], sort=False))}
    times = times_at_largest_channels(results)
    if not times.empty and "conv3x3" in times:
        for key, ratios in vs_conv3x3(times).iterrows():
            rows[f"this run: {label(*key)} (C={int(times.loc[key, 'channels'])})"] = ratios
    table = pd.DataFrame(rows).T.reindex(columns=list(VARIANTS))
    return ["## Against 2017", "", f"Time vs conv3x3 (empty: not measured). Reference data: {seed_2017_source()}",
            "", _md(table), ""]


def _kernel_section(results: pd.DataFrame, env: dict, run_dir: Path) -> Lines:
    out = ["## Kernel vs overhead, and the roofline", ""]
    split = kernel_split(results)
    out += [overhead_paragraph(split, results), ""]
    if not split.empty:
        table = split.drop(columns=["device"])
        out += ["Kernel time comes from each runtime's own profiler in a run separate from the timed one "
                "(`kernel_method` in results.csv says how); overhead = timed median - kernel.", "",
                _md(table, ".4g", index=False), ""]
        for runtime, group in split.groupby("runtime", sort=False):
            out += [Figure("kernel", group, f"{runtime}: kernel vs overhead (C={group['channels'].iloc[0]})",
                           _file_name("kernel", runtime), f"{runtime} kernel vs overhead"), ""]
    ran = what_ran(results, read_kernels(run_dir))
    if not ran.empty:
        out += ["### What each runtime ran", "",
                "From each case's profile (kernels.csv beside this report): the kernels, operators or primitives "
                "that took the time, their share of the kernel time and calls per layer, at each runtime's largest "
                "channel count. Layout changes a runtime inserted show here as their own kernels.", "",
                _md(ran, index=False), ""]
    launches = launch_view(results)
    if not launches.empty:
        out += ["### Launches and GPU idle time (CUDA)", "",
                "From the CUPTI timeline of the profiled forwards: host launch calls per forward (a CUDA graph is "
                "one), and the time the GPU sat idle between a forward's first kernel and its last: launch-bound "
                "runtimes leave gaps there. Medians over conv types.", "", _md(launches, ".4g", index=False), ""]
    not_measured = results.loc[results["status"] == "ok"].drop_duplicates(GROUP)
    if "kernel_method" in not_measured:
        missing = not_measured[not_measured["kernel_ms_per_forward"].isna()
                               & not_measured["kernel_method"].fillna("").astype(str).ne("")]
        for row in missing.itertuples():
            out += [f"- {label(row.runtime, row.source, row.device, row.dtype)}: kernel time {row.kernel_method}", ""]
    above = above_ceiling_table(results)
    if not above.empty:
        out += ["### Cases above the ceiling", "",
                "These cases ran faster than their roofline floor, which is not possible if the floor's ceilings "
                "held; their efficiency is not shown as a number anywhere in this report. Their causes, as far as "
                "the evidence goes:", "",
                *[f"- **{name}**: {text}" for name, text in CAUSES.items() if name in set(above["cause"])], "",
                _md(above, ".3g", index=False), ""]
    for device, ceilings in (env.get("ceilings") or {}).items():
        cases = results[(results["device"] == device) & (results["status"] == "ok")]
        if "peak_gflop_per_s" not in (ceilings or {}) or cases.empty or "arithmetic_intensity" not in cases:
            continue
        out += [Figure("roofline", cases, f"roofline on {device}: every case", _file_name("roofline", device),
                       f"roofline on {device}", {"ceilings": ceilings}), ""]
    return out


def _graphs_section(run_dir: Path) -> list[str]:
    path = run_dir / GRAPHS_FILE
    if not path.exists():
        return []
    graphs = read_csv_checked(path)
    if graphs.empty:
        return ["## Exported graphs", "", "No good ONNX file in the export manifest when this run ended.", ""]
    return ["## Exported graphs", "", "What each ONNX file holds (`convbench inspect FILE` shows one in full):", "",
            _md(graphs, ".1e", index=False), ""]


def _problems_section(results: pd.DataFrame) -> list[str]:
    out = ["## Skipped and failed cases, parity", ""]
    bad = results[results["status"] != "ok"]
    if bad.empty:
        out += ["Every case ran and passed its parity check.", ""]
    else:
        out += [_md(bad[["stack_id", "runtime", "source", "device", "status", "reason"]], index=False), ""]
    parity = results.groupby(GROUP, sort=False)["parity_rel_err"].max()
    parity.index = [label(*key) for key in parity.index]
    out += ["Largest relative error of each runtime's output vs the PyTorch float32 reference:", "",
            _md(parity.rename("max parity_rel_err").to_frame(), ".1e"), ""]
    return out
