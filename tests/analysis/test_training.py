from pathlib import Path

from convbench.analysis.training import phase_split
from convbench.analysis.workloads import pass_rows
from convbench.results import read_results

RUN = Path(__file__).parents[2] / "docs" / "results" / "h200-cupti-2026-12-02"


def test_a_phase_no_kernel_was_named_as_says_so_in_how():
    """On the H200, max-autotune's forward ran as Triton templates whose name that run did not know, and the table
    says so; keras-tf's conv3x3 step was split in full and says nothing more."""
    table = phase_split(pass_rows(read_results(RUN / "results.csv"), "train")).set_index(["runtime", "variant"])
    autotuned = table.loc[("torch-compile-max-autotune[torch]/cuda bfloat16", "conv3x3")]
    assert autotuned["forward"] != autotuned["forward"]  # NaN
    assert "no kernel was named as its forward" in autotuned["how"]
    split = table.loc[("keras-tf[keras]/cuda", "conv3x3")]
    assert split["forward"] > 0 and "no kernel was named" not in split["how"]
    one_by_one = table.loc[("keras-tf[keras]/cuda", "conv1x1")]  # GEMMs both ways, cuDNN's wgrad reduction named
    assert "no kernel was named as its forward" in one_by_one["how"]
