"""What `convbench bench` is asked, as one object, checked in one place and recorded with the run.

A `BenchRequest` holds every choice of a bench: the sweeps (`Sweep`: workloads, dtypes, passes, runtimes, model
sources), the device, the threads, the timing, profiling, the library floor, the cluster and where results go. A
field left as None was not asked for: a new run takes the default, a resumed run the value it recorded. The command
line builds one from its flags; Python code builds the same object and gets the same checks and the same run
(convbench.run.run).

Every run directory keeps its request in `request.json`, resolved (no field left to a default), so `bench --run-dir
X` with no other flag resumes X as it was asked. A resume that asks for something else is told apart by what it
changes (`resume`):
- **how it measures** (the device, the threads, the timing, the machine): refused, naming each difference, since a
  run's rows must be comparable with each other;
- **what it measures** (the sweep, profiling, the library floor): extends the run; request.json records the added
  sweep, so a later resume with no flags runs both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from convbench.csvfile import replace_text
from convbench.errors import BadInput, check_known
from convbench.harness import TimingConfig
from convbench.models.networks import NETWORK_IMAGE, NETWORKS
from convbench.models.variants import VARIANTS
from convbench.models.whole import WHOLE_BATCHES, WHOLE_IMAGE, definition
from convbench.spec import (
    DEFAULT_BATCH,
    DEFAULT_CHANNELS,
    DEFAULT_IMAGE,
    DEFAULT_LAYERS,
    DEVICES,
    DTYPES,
    PASSES,
    REFERENCE_DTYPE,
    Case,
    Workload,
    expand_networks,
    expand_specs,
    expand_whole_models,
    unique,
)

REQUEST_FILE = "request.json"
REQUEST_VERSION = 1
SEED_ONLY = ("variants", "channels", "layers")  # sweep fields that do not apply to --networks or --models
TIMING_FIELDS = ("warmup_seconds", "sample_seconds", "budget_seconds", "min_samples", "max_samples", "processes",
                 "energy_seconds")
FLAG = {"variants": "--variants", "channels": "--channels", "layers": "--layers", "batch": "--batch",
        "image": "--image", "networks": "--networks", "models": "--models", "dtypes": "--dtype", "passes": "--pass",
        "runtimes": "--runtimes", "sources": "--sources", "device": "--device", "threads": "--threads",
        "warmup_seconds": "--warmup-seconds", "sample_seconds": "--sample-seconds",
        "budget_seconds": "--budget-seconds", "min_samples": "--min-samples", "max_samples": "--max-samples",
        "processes": "--processes", "energy_seconds": "--energy-seconds",
        "machine": "the machine (its hardware, or CONVBENCH_MACHINE)"}

# float32 alone on the CPU; on CUDA float32 (IEEE) and tf32 (TF32 math), each its own answer
DEFAULT_DTYPES = {"cpu": (REFERENCE_DTYPE,), "cuda": (REFERENCE_DTYPE, "tf32")}


@dataclass(frozen=True)
class Sweep:
    """What to time. None: not asked (`resolved` fills in the default)."""

    variants: tuple[str, ...] | None = None
    channels: tuple[int, ...] | None = None
    layers: int | None = None
    batch: tuple[int, ...] | None = None
    image: int | None = None
    networks: tuple[str, ...] | None = None  # real networks' conv layers instead of the seed's stacks
    models: tuple[str, ...] | None = None  # whole networks as their libraries define them (convbench.models.whole)
    dtypes: tuple[str, ...] | None = None
    passes: tuple[str, ...] | None = None
    runtimes: tuple[str, ...] | None = None  # None: the device's default runtimes
    sources: tuple[str, ...] | None = None  # None: every model source of each runtime

    def given(self) -> dict[str, object]:
        """The fields asked for."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def check(self) -> None:
        """BadInput for a sweep that cannot be planned: an unknown name, or seed-stack sizes with --networks or
        --models, or both of those."""
        if self.networks is not None and self.models is not None:
            raise BadInput("--networks and --models in one sweep: --networks times networks' conv layers, --models "
                           "whole networks; run one, then the other into the same --run-dir")
        if self.networks is not None:
            check_known(list(self.networks), list(NETWORKS), "network")
        for name in self.models or ():
            definition(name)
        for flag, given in (("--networks", self.networks), ("--models", self.models)):
            ignored = [FLAG[name] for name in SEED_ONLY if getattr(self, name) is not None]
            if given is not None and ignored:
                raise BadInput(f"{' and '.join(ignored)} with {flag}: a network's layers have their own types, "
                               f"channels and depth; leave them out, or time the seed's stacks without {flag}")
        for name, valid, what in (("variants", VARIANTS, "conv type"), ("dtypes", DTYPES, "dtype"),
                                  ("passes", PASSES, "pass")):
            values = getattr(self, name)
            if values is not None:
                check_known(list(values), list(valid), what)
        from convbench.runners import MODEL_SOURCES, RUNTIMES, check_sources

        if self.runtimes is not None:
            check_known(list(self.runtimes), list(RUNTIMES), "runtime")
        if self.sources is not None:
            check_known(list(self.sources), MODEL_SOURCES, "source")
            if self.runtimes is not None:
                check_sources(list(self.sources), list(self.runtimes))

    def resolved(self, device: str) -> Sweep:
        """Every field filled in: what was asked, else the default (the device's default runtimes and dtypes)."""
        from convbench.runners import default_runtimes

        self.check()
        networks, whole = self.networks is not None, self.models is not None
        seed = not (networks or whole)
        return Sweep(
            variants=self.variants or tuple(VARIANTS) if seed else None,
            channels=self.channels or DEFAULT_CHANNELS if seed else None,
            layers=self.layers or DEFAULT_LAYERS if seed else None,
            batch=self.batch or (WHOLE_BATCHES if whole else (DEFAULT_BATCH,)),
            image=self.image or (NETWORK_IMAGE if networks else WHOLE_IMAGE if whole else DEFAULT_IMAGE),
            networks=self.networks,
            models=self.models,
            dtypes=self.dtypes or DEFAULT_DTYPES[device],
            passes=self.passes or ("forward",),
            runtimes=self.runtimes or tuple(default_runtimes(device, whole_models=whole)),
            sources=self.sources,
        )

    def workloads(self, with_reference: bool = False) -> list[Workload]:
        """The sweep's workloads (resolved first). `with_reference`: float32 first, added where only other dtypes
        were asked for (export needs it: the reference output is float32's, and int8 is quantised from it)."""
        sweep = self.resolved("cpu")
        dtypes = list(sweep.dtypes or ())
        if with_reference:
            dtypes = [REFERENCE_DTYPE, *(d for d in dtypes if d != REFERENCE_DTYPE)]
        batches = unique(sweep.batch or ())
        if sweep.models is not None:
            return expand_whole_models(list(sweep.models), batches, dtypes, sweep.image or WHOLE_IMAGE,
                                       list(sweep.passes or ()))
        if sweep.networks is not None:
            return expand_networks(list(sweep.networks), batches, dtypes, sweep.image or NETWORK_IMAGE,
                                   list(sweep.passes or ()))
        return expand_specs(list(sweep.variants or ()), list(sweep.channels or ()), sweep.layers or DEFAULT_LAYERS,
                            batches, sweep.image or DEFAULT_IMAGE, dtypes, list(sweep.passes or ()))

    def cases(self, device: str) -> list[Case]:
        """Every (workload, runtime, source) of the sweep on `device` (convbench.bench.plan_cases)."""
        from convbench.bench import plan_cases

        sweep = self.resolved(device)
        return plan_cases(self.workloads(), list(sweep.runtimes or ()), device,
                          list(sweep.sources) if sweep.sources is not None else None)

    def to_json(self) -> dict[str, object]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Sweep:
        known = {f.name for f in fields(cls)}
        return cls(**{name: tuple(value) if isinstance(value, list) else value  # type: ignore[arg-type]
                      for name, value in data.items() if name in known})


@dataclass(frozen=True)
class BenchRequest:
    """Everything a bench is asked. None: not asked (the default, or a resumed run's recorded value)."""

    sweeps: tuple[Sweep, ...] = (Sweep(),)
    device: str | None = None
    threads: int | None = None  # intra-op threads of every CPU runtime (None: all usable cores)
    timing: Mapping[str, float] = field(default_factory=dict)  # TimingConfig fields asked for (TIMING_FIELDS)
    profile: bool = False  # also take each case's kernel time from its runtime's profiler
    floor: bool = False  # CUDA: also measure the library floor (cuDNN's fastest plan per layer)
    artifacts: Path | None = None  # the exported files (None: artifacts/)
    run_dir: Path | None = None  # a new or empty folder, or a run's to resume (None: a new one under results_root)
    results_root: Path = Path("results")  # parent of new run directories, and of their `latest` link
    cluster: str | None = None  # a Ray cluster's address: time on its convbench nodes (convbench.cluster)
    case_timeout_s: float | None = None  # None: each runtime's default
    worker_log: bool = True  # workers' output to the run's workers.log (False: to the terminal)
    budget_minutes: float | None = None  # the bench's time (this invocation's): what the first rounds leave goes to
    # more rounds of the cases whose ranking is undecided (None: the first rounds only)
    machine: str | None = None  # recorded: the machine label the run's rows carry (not asked; convbench.machines)

    @property
    def config(self) -> TimingConfig:
        """The timing asked for, on top of the defaults (TimingConfig checks the values)."""
        unknown = set(self.timing) - set(TIMING_FIELDS)
        if unknown:
            raise BadInput(f"unknown timing field(s) {', '.join(sorted(unknown))}; valid: {', '.join(TIMING_FIELDS)}")
        return TimingConfig(**self.timing)  # type: ignore[arg-type]

    @property
    def device_or_default(self) -> str:
        return self.device or "cpu"

    @property
    def artifacts_or_default(self) -> Path:
        return self.artifacts or Path("artifacts")

    def check(self) -> None:
        """BadInput for anything that cannot run, before any work: an unknown name, a bad combination."""
        if self.device is not None and self.device not in DEVICES:
            raise BadInput(f"unknown device {self.device!r}; valid: {', '.join(DEVICES)}")
        if not self.sweeps:
            raise BadInput("a request needs at least one sweep")
        for sweep in self.sweeps:
            sweep.check()
        self.config  # noqa: B018  (checks the timing)
        if self.cluster is not None and not self.cluster.strip():
            raise BadInput("--cluster got an empty address; give host:port of the Ray cluster's head (e.g. "
                             "10.0.0.1:6379), or leave --cluster out to run here")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            raise BadInput(f"--time-budget must be a positive number of minutes, got {self.budget_minutes!r}")
        if self.cluster and self.floor:
            raise BadInput("--floor with --cluster: the library floor is measured on the machine that starts the "
                             "run; run `convbench bench --floor --device cuda` on the GPU machine itself")

    def cases(self) -> list[Case]:
        """Every case of every sweep, once each, in the order the sweeps were asked."""
        seen: dict[tuple[str, ...], Case] = {}
        for sweep in self.sweeps:
            for case in sweep.cases(self.device_or_default):
                seen.setdefault(case.key, case)
        return list(seen.values())

    def resolved(self, threads: int, machine: str) -> BenchRequest:
        """What a new run records: every field filled in (`threads`: the usable cores where none were asked; in a
        cluster, None: each node's own)."""
        return replace(self, sweeps=tuple(s.resolved(self.device_or_default) for s in self.sweeps),
                       device=self.device_or_default, threads=self.threads or (None if self.cluster else threads),
                       timing={name: getattr(self.config, name) for name in TIMING_FIELDS},
                       artifacts=self.artifacts_or_default, machine=machine)

    def to_json(self) -> dict[str, object]:
        return {"version": REQUEST_VERSION, "sweeps": [s.to_json() for s in self.sweeps], "device": self.device,
                "threads": self.threads, "timing": dict(self.timing), "profile": self.profile, "floor": self.floor,
                "artifacts": str(self.artifacts) if self.artifacts else None, "machine": self.machine,
                "budget_minutes": self.budget_minutes}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BenchRequest:
        artifacts = data.get("artifacts")
        return cls(sweeps=tuple(Sweep.from_json(s) for s in data.get("sweeps") or []),  # type: ignore[union-attr]
                   device=data.get("device"), threads=data.get("threads"),  # type: ignore[arg-type]
                   timing=dict(data.get("timing") or {}), profile=bool(data.get("profile")),  # type: ignore[arg-type]
                   floor=bool(data.get("floor")), artifacts=Path(str(artifacts)) if artifacts else None,
                   machine=data.get("machine"), budget_minutes=data.get("budget_minutes"))  # type: ignore[arg-type]


def read_request(run_dir: Path) -> BenchRequest | None:
    """The request a run directory recorded; None for a run begun before runs recorded theirs. A damaged file is a
    CorruptFile naming it."""
    from convbench.errors import CorruptFile

    path = Path(run_dir) / REQUEST_FILE
    if not path.exists():
        return None
    try:
        return BenchRequest.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as error:
        raise CorruptFile(f"{path}: not a convbench request ({error}); the file is damaged") from None


def write_request(run_dir: Path, request: BenchRequest) -> None:
    replace_text(Path(run_dir) / REQUEST_FILE,
                 lambda tmp: tmp.write_text(json.dumps(request.to_json(), indent=2, sort_keys=True) + "\n"))


@dataclass(frozen=True)
class Resumed:
    """A resume's request (the recorded one, extended where asked) and what it says about what changed."""

    request: BenchRequest
    extended: list[str]  # what the run gained: "an added sweep (--channels 16, the run's: 8)", "profiling"


def resume(recorded: BenchRequest, asked: BenchRequest, threads: int, machine: str) -> Resumed:
    """The run to do when `asked` resumes a run that recorded `recorded`: BadInput where it would measure
    differently (naming each difference); else the recorded request, extended by any new sweep, profiling or floor.
    `threads` and `machine`: this machine's usable cores and label, as a new run would take them."""
    differences = []
    if asked.device is not None and asked.device != recorded.device:
        differences.append(("device", asked.device, recorded.device))
    if asked.threads is not None and asked.threads != recorded.threads:
        differences.append(("threads", asked.threads, recorded.threads))
    if asked.threads is None and recorded.threads and threads < int(recorded.threads):
        differences.append(("threads", f"{threads} (this machine's usable cores)", recorded.threads))
    for name, value in asked.timing.items():
        if value != recorded.timing.get(name):
            differences.append((name, value, recorded.timing.get(name)))
    if recorded.machine is not None and machine != recorded.machine and not asked.cluster:
        differences.append(("machine", machine, recorded.machine))
    if differences:
        said = "; ".join(f"{FLAG.get(name, name)}: {_said(now)} now, {_said(then)} in the run" for name, now, then
                         in differences)
        raise BadInput(f"resuming {asked.run_dir}: it would measure differently ({said}); a run's rows are timed "
                         "one way: resume with the run's own flags (or none), or start a new run")
    request, extended = recorded, []
    asked_sweep = asked.sweeps[0] if len(asked.sweeps) == 1 else None
    for sweep in asked.sweeps if asked_sweep is None or asked_sweep.given() else ():
        resolved = sweep.resolved(str(recorded.device))
        if resolved in request.sweeps:
            continue
        new = {case.key for case in resolved.cases(str(recorded.device))} - {c.key for c in request.cases()}
        if new:
            request = replace(request, sweeps=(*request.sweeps, resolved))
            extended.append(f"{len(new)} case(s) of an added sweep ({_sweep_difference(resolved, recorded.sweeps)})")
    for name, what in (("profile", "--profile"), ("floor", "--floor")):
        if getattr(asked, name) and not getattr(request, name):
            request = replace(request, **{name: True})
            extended.append(what)
    if asked.artifacts is not None and asked.artifacts != recorded.artifacts:
        request = replace(request, artifacts=asked.artifacts)
    budget = asked.budget_minutes if asked.budget_minutes is not None else recorded.budget_minutes
    return Resumed(replace(request, run_dir=asked.run_dir, results_root=asked.results_root, cluster=asked.cluster,
                           case_timeout_s=asked.case_timeout_s, worker_log=asked.worker_log,
                           budget_minutes=budget), extended)


def _said(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def _sweep_difference(sweep: Sweep, recorded: Sequence[Sweep]) -> str:
    """How `sweep` differs from the run's first sweep, as flags: "--channels 16, the run's 8"."""
    first = recorded[0] if recorded else Sweep()
    parts = [f"{FLAG[name]} {_said(value)}, {_said(getattr(first, name))} in the run"
             for name, value in sweep.given().items() if value != getattr(first, name)]
    return "; ".join(parts) or "the same flags"
