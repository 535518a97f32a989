"""torch.compile in a worker that compiles many stacks: each gets one whole graph, none hits dynamo's limits."""

from pathlib import Path

from convbench.artifacts import Artifacts
from convbench.models.variants import VARIANTS
from convbench.runners.torch_runner import TorchCompile
from convbench.spec import Case, StackSpec


def test_nine_stacks_in_one_process_each_compile_as_one_graph():
    """Every stack is a new nn.Sequential sharing one forward code object; without a reset the ninth compile
    exceeds dynamo's recompile limit (8), which fullgraph=True turns into a hard failure."""
    runner = TorchCompile(1)
    stacks = [StackSpec(v, c, layers=1, batch=1, image=8) for v in VARIANTS for c in (4, 8)][:9]
    for spec in stacks:
        prepared = runner.prepare(Case(spec, "torch-compile", "torch", "cpu"), Artifacts(Path("unused")))
        assert prepared.options["graph_breaks"] == "none (fullgraph=True)", spec.stack_id
        assert prepared.compile_ms > 0
