import pandas as pd
import pytest

from convbench.artifacts import Artifacts
from convbench.bench import plan_cases, run_bench
from convbench.errors import BadInput
from convbench.harness import TimingConfig
from convbench.jobs import RunSettings
from convbench.results import ResultsStore
from convbench.runners import RUNTIMES, RuntimeInfo, check_runtimes, get_runner, missing_requirement, runner_class
from convbench.runners.base import Runner
from convbench.spec import SeedStack


def test_every_registered_runner_can_be_made_and_the_cpu_defaults_are_available():
    for name, info in RUNTIMES.items():
        if missing_requirement(info):
            continue  # e.g. keras-jax without jax: a skipped row, tested below
        runner = get_runner(info, 1)
        if "cpu" in info.default_on:
            assert runner.available("cpu") is None, name


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_every_runner_has_exactly_the_members_its_registry_entry_declares(name):
    """The registry declares the capabilities (the parent reads them without importing a framework); the class
    must agree: a training step where the entry is not inference_only, a profiler where it has no no_profiler."""
    info = RUNTIMES[name]
    if missing_requirement(info):
        pytest.skip(f"{name}: {missing_requirement(info)}")
    cls = runner_class(info)
    assert issubclass(cls, Runner)
    assert (cls.prepare_train is not Runner.prepare_train) == ("train" in info.passes), name
    assert (cls.kernel_time is not Runner.kernel_time) == (info.no_profiler is None), name


def test_unknown_runtime_is_a_usage_error():
    with pytest.raises(BadInput, match="'nope'.*torch"):
        check_runtimes(["torch", "nope"])


def test_a_runtime_whose_package_is_missing_is_a_skipped_row(tmp_path, monkeypatch):
    info = RuntimeInfo("openvino", "openvino", ("openvino.xml",), "ov_runner:Nope", ("no_such_package_xyz",), "")
    monkeypatch.setitem(RUNTIMES, "openvino", info)
    assert missing_requirement(info) == "no_such_package_xyz not installed"
    store = ResultsStore(tmp_path / "run")
    store.open()
    rows = []
    cases = plan_cases([SeedStack("conv1x1", 8, 2, 2, 8)], ["openvino"], "cpu")
    run_bench(cases, store, Artifacts(tmp_path), RunSettings(TimingConfig(), 1, "env"),
              lambda case, row: rows.append(row))
    table = pd.read_csv(store.csv_path)
    assert list(table["status"]) == ["skipped"]
    assert table["reason"][0] == "no_such_package_xyz not installed"
