"""`convbench bench --cluster ADDRESS`: one sweep over the convbench nodes of a Ray cluster, this machine the only
writer of the run directory.

- A convbench node is a Ray node that offers the resource RESOURCE (`ray start ... --resources
  '{"convbench": 1}'`; a GPU node: one per GPU). A CPU sweep's task takes all of a node's convbench slots, so a
  node times one thing at a time; a GPU sweep's task takes one slot and one GPU, and Ray shows the task that GPU
  alone (CUDA_VISIBLE_DEVICES), so each GPU times one thing at a time.
- Nodes are grouped into machines (convbench.machines: the CPU model and cores, or the GPU model). Every machine
  times the whole sweep; the nodes of one machine share it. A unit of work (a shard) is one family's processes
  0 .. N-1 over some of its cases, on one node: a case's repeats are fresh processes of one machine, never two.
- Each node records its own environment and ceilings (env.json's `machines`) and conditions; every row names its
  machine, host, node and environment. Rows stream back as the node makes them (Ray generator tasks) and are
  written here through the same convbench.recorder.Recorder as a local run's.
- A node lost in the middle of a shard fails that shard's cases that have no row yet (the ok process rows already
  written stay); the next resume re-runs them, as it re-runs any failed case.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convbench.artifacts import Artifacts
from convbench.bench import (
    NoReference,
    gradient_references,
    measure_ceilings_in_worker,
    not_runnable,
    profile_family,
    stored_ceilings,
    time_family,
    worker_groups,
)
from convbench.errors import BadInput, Skip, one_line
from convbench.jobs import Event, RunSettings, Where
from convbench.machines import machine_label
from convbench.recorder import Recorder
from convbench.results import case_row
from convbench.spec import Case

log = logging.getLogger("convbench")
RESOURCE = "convbench"
CONNECT_TIMEOUT_S = 10.0
RAY_PROBE_TIMEOUT_S = 30.0  # a Ray head answers ray.init in a few seconds (Python and Ray's import included)
PROBE_TIMEOUT_S = 120.0  # a node's first task starts a Python worker and imports convbench
START_NODE = "ray start --address HEAD:6379 --resources '{\"convbench\": 1}'"  # the README gives the whole recipe


@dataclass(frozen=True)
class Node:
    """A convbench node as the probe found it: its Ray id, convbench slots, GPUs, and environment."""

    node_id: str
    slots: int
    gpus: int
    env: dict

    @property
    def short(self) -> str:
        return self.node_id[:8]

    @property
    def where(self) -> Where:
        return Where(str(self.env.get("host", "")), self.short, str(self.env["env_id"]))

    @property
    def threads(self) -> int:
        return int(self.env["threads"]["intra_op"])

    def tasks(self, device: str) -> int:
        """How many shards it runs at once: one on the CPU, one per GPU."""
        return 1 if device == "cpu" else min(self.gpus, self.slots)

    def demand(self, device: str) -> dict[str, Any]:
        """The Ray options that pin a task to this node and keep it alone there (CPU) or on its GPU."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        where = NodeAffinitySchedulingStrategy(self.node_id, soft=False)
        if device == "cpu":
            return {"resources": {RESOURCE: self.slots}, "num_cpus": 0, "scheduling_strategy": where}
        return {"resources": {RESOURCE: 1}, "num_gpus": 1, "num_cpus": 0, "scheduling_strategy": where}


@dataclass
class Shard:
    """One unit of work: a family's cases on one node (timing; then, with --profile, their kernel times)."""

    machine: str
    family: str
    node: Node
    cases: list[Case]
    kind: str = "time"  # or "profile"


def connect(address: str, threads: int | None) -> list[Node]:
    """Join the Ray cluster at `address` and probe its convbench nodes; BadInput, saying how to fix it, where
    Ray is missing, no cluster answers there, or no node offers RESOURCE."""
    try:
        import ray
    except ImportError:
        raise BadInput("--cluster needs Ray, which is not installed: pip install -e '.[cluster]' (on every "
                         "node too)") from None
    check_reachable(address)
    check_answers_as_ray(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise BadInput(f"--cluster {address}: no Ray cluster answered there ({one_line(error, 200)}); start one "
                         "with `ray start --head --resources '{\"convbench\": 1}'` and pass its address "
                         "(host:6379)") from None
    found = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(RESOURCE)]
    if not found:
        ray.shutdown()
        raise BadInput(f"--cluster {address}: no node offers the '{RESOURCE}' resource; start each node with "
                         f"`{START_NODE}` (a GPU node: one per GPU)")
    probe = ray.remote(max_retries=0)(node_env)
    refs = [probe.options(num_cpus=0, scheduling_strategy=_pinned(n["NodeID"])).remote(threads) for n in found]
    nodes = []
    for info, ref in zip(found, refs, strict=True):
        try:  # a node that left a moment ago can still be listed alive: it is not probed, and not used
            env = ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except Exception as error:
            log.warning(f"convbench node {info['NodeID'][:8]} did not answer ({one_line(error, 120)}); not used")
            continue
        nodes.append(Node(info["NodeID"], int(info["Resources"][RESOURCE]), int(info["Resources"].get("GPU", 0)),
                          env))
    if not nodes:
        ray.shutdown()
        raise BadInput(f"--cluster {address}: none of the {len(found)} convbench node(s) answered")
    return nodes


def host_and_port(address: str) -> tuple[str, int]:
    """host:port, [IPv6]:port or IPv6 with the port after its last colon, as (host, port); BadInput else."""
    host, _, port = address.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"--cluster {address}: not a host:port address (the head's, e.g. 10.0.0.5:6379 or "
                       "[::1]:6379)")
    return host, int(port)


def check_answers_as_ray(address: str, timeout_s: float = RAY_PROBE_TIMEOUT_S) -> None:
    """BadInput within `timeout_s` where what listens at `address` does not answer as a Ray cluster: ray.init
    itself retries for minutes against a listener that is not Ray's, so a separate process tries it first and is
    stopped at the limit."""
    probe = (f"import logging, ray; ray.init(address={address!r}, log_to_driver=False, "
             "logging_level=logging.ERROR, configure_logging=False); ray.shutdown()")
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BadInput(f"--cluster {address}: something listens there but did not answer as a Ray cluster within "
                       f"{timeout_s:.0f} s; pass the address `ray start --head` printed (host:6379)") from None
    if done.returncode != 0:
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no message")
        raise BadInput(f"--cluster {address}: no Ray cluster answered there ({last.strip()[:200]}); start one with "
                       "`ray start --head --resources '{\"convbench\": 1}'` and pass its address (host:6379)")


def check_reachable(address: str) -> None:
    """BadInput at once where nothing listens at host:port (ray.init would retry for minutes)."""
    host, port = host_and_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise BadInput(f"--cluster {address}: no Ray cluster answered there ({error.strerror or error}); start one "
                         "with `ray start --head --resources '{\"convbench\": 1}'` and pass its address "
                         "(host:6379)") from None


def _pinned(node_id: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id, soft=False)


def node_env(threads: int | None) -> dict:
    """On a node: its environment (convbench.envinfo), its threads being `threads` or all its usable cores."""
    from convbench.envinfo import collect_env
    from convbench.machines import usable_cores

    return collect_env(min(threads or usable_cores(), usable_cores()))


def machines(nodes: Sequence[Node], device: str) -> dict[str, list[Node]]:
    """The nodes that can time on `device`, by machine label; BadInput where none can."""
    capable = [n for n in nodes if device == "cpu" or (n.gpus > 0 and n.env.get("gpus"))]
    if not capable:
        raise BadInput(f"--device {device}: no convbench node of the cluster has a GPU that Ray lends (start GPU "
                         "nodes with --num-gpus and one convbench slot per GPU)")
    grouped: dict[str, list[Node]] = {}
    for node in capable:
        grouped.setdefault(machine_label(node.env, device), []).append(node)
    return grouped


def record_machines(env: dict, grouped: dict[str, list[Node]], device: str) -> None:
    """env.json's `machines`: per machine, the device it times and each node's environment (kept when resuming)."""
    for label, nodes in grouped.items():
        entry = env.setdefault("machines", {}).setdefault(label, {"device": device, "nodes": {}, "ceilings": {}})
        for node in nodes:
            entry["nodes"][node.short] = node.env


def measure_machine_ceilings(env: dict, grouped: dict[str, list[Node]], device: str, log_path: Path | None,
                             observer: Any) -> None:
    """Each machine's ceilings on `device` not in env.json's machines yet, measured once per run on one of its nodes
    (the machines at once) and kept there as `stored_ceilings` makes them."""
    import ray

    measure = ray.remote(max_retries=0)(measure_ceilings_on_node)
    pending = {}
    for label, nodes in grouped.items():
        if device not in env["machines"][label]["ceilings"]:
            observer.measuring_ceilings(f"{device} of {label}")
            node = nodes[0]
            pending[label] = measure.options(**node.demand(device)).remote(device, node.threads, log_path)
    for label, ref in pending.items():
        try:
            measured = ray.get(ref)
        except Exception as error:  # a lost node: no floor for its machine, the sweep goes on
            measured = Skip(f"not measured: {one_line(error)}")
        env["machines"][label]["ceilings"][device] = stored_ceilings(measured)


def measure_ceilings_on_node(device: str, threads: int, log_path: Path | None) -> dict | Skip:
    return measure_ceilings_in_worker(device, threads, _node_log(log_path))


def _node_log(log_path: Path | None) -> Path | None:
    """The run's workers.log where this node sees the run directory (a shared or the same filesystem), else a file
    in this node's temporary folder."""
    if log_path is None or log_path.parent.is_dir():
        return log_path
    return Path(tempfile.gettempdir()) / f"convbench-{log_path.parent.name}-workers.log"


def node_job(shard: Shard, kept: dict, options: RunSettings, artifacts_root: str, no_reference: NoReference,
             unprofiled: list[tuple[Case, float]]) -> Iterator[Event]:
    """On a node: the events of one shard (convbench.bench.time_family or profile_family), with its threads and
    environment, workers' output to _node_log."""
    node = shard.node
    options = replace(options, threads=node.threads, env_id=node.where.env_id, log_path=_node_log(options.log_path))
    if not Path(artifacts_root).is_dir():
        why = (f"no exported models at {artifacts_root} on {node.where.host} (node {node.short}): share that folder "
               "with every node, or run the same `convbench export` there")
        for case in shard.cases:
            yield "result", case, {**case_row(case, status="failed", reason=why, threads=node.threads),
                                   **node.where.columns()}
        return
    if shard.kind == "profile":
        yield from profile_family(shard.family, unprofiled, options, artifacts_root)
    else:
        yield from time_family(shard.family, shard.cases, kept, options, artifacts_root, no_reference, node.where)


def shards(cases: Sequence[Case], grouped: dict[str, list[Node]], device: str) -> list[Shard]:
    """The open cases as units of work: per machine and family, dealt round-robin over the machine's task slots
    (a node with 8 GPUs: 8 slots), so each slot gets a mix of the family's cases."""
    out = []
    for label, nodes in grouped.items():
        slots = [node for node in nodes for _ in range(node.tasks(device))]
        for family, family_cases in worker_groups([c for c in cases if c.machine == label]):
            for i, node in enumerate(slots):
                dealt = family_cases[i::len(slots)]
                if dealt:
                    out.append(Shard(label, family, node, dealt))
    return out


def run_on_cluster(cases: Sequence[Case], grouped: dict[str, list[Node]], artifacts: Artifacts,
                   options: RunSettings, recorder: Recorder, note: Any) -> None:
    """Run every open case's shard on a node of its machine (`grouped`: machines()), handing each event to
    `recorder` (the one writer) as it arrives. After a timing shard, with options.profile, its timed cases are
    profiled on the same node."""
    import ray

    job = ray.remote(max_retries=0)(node_job)
    root = str(Path(artifacts.root).resolve())  # a node's tasks do not run in this folder: the same absolute path
    options = replace(options, log_path=options.log_path.resolve() if options.log_path else None)
    recorder.redecide_skips(cases, not_runnable)
    todo = recorder.open_cases(cases)
    no_reference = gradient_references(todo, artifacts, options)
    store = recorder.store
    pending: dict[Any, Shard] = {}

    def submit(shard: Shard) -> None:
        kept = {c.key: recorder.kept.get(c.key, {}) for c in shard.cases}
        unprofiled = store.unprofiled(shard.cases) if shard.kind == "profile" else []
        if shard.kind == "profile" and not unprofiled:
            return
        generator = job.options(**shard.node.demand(shard.cases[0].device)).remote(
            shard, kept, options, root, no_reference, unprofiled)
        pending[generator] = shard

    for shard in shards(todo, grouped, cases[0].device) if cases else []:
        submit(shard)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            generator = ready[0]
            shard = pending[generator]
            try:
                event = ray.get(next(generator))
            except StopIteration:
                del pending[generator]
                if shard.kind == "time" and options.profile:
                    submit(replace(shard, kind="profile"))
                continue
            except Exception as error:  # the node died or left: this shard's open cases fail, to re-run on resume
                del pending[generator]
                _lost(shard, error, recorder, note)
                continue
            recorder.handle(event)
    except BaseException:  # Ctrl-C or a full disk here: stop the nodes' work, keep what was written
        for generator in pending:
            with contextlib.suppress(Exception):
                ray.cancel(generator, force=True)
        raise


def _lost(shard: Shard, error: BaseException, recorder: Recorder, note: Any) -> None:
    """A shard that ended in an error: its node was lost (Ray's system errors), or the job itself raised."""
    from ray.exceptions import RayTaskError

    where = shard.node.where
    how = "raised an error in" if isinstance(error, RayTaskError) else "was lost while running"
    what = (f"node {where.node} ({where.host}) {how} this {shard.family} unit of work ({one_line(error, 160)}); "
            "the next resume runs it again")
    if shard.kind == "profile":  # no kernel columns written: the next resume profiles these cases again
        note(f"{what}: its cases are not profiled")
        return
    left = [case for case in shard.cases if case.key not in recorder.done]
    note(f"{what}: {len(left)} case(s) failed")
    for case in left:
        recorder.finish(case, {**case_row(case, status="failed", reason=what, threads=shard.node.threads),
                               **where.columns()})
