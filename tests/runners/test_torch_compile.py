"""torch.compile in a worker that compiles many stacks: each gets one whole graph, none hits dynamo's limits."""

import os
import subprocess
import sys
from pathlib import Path

from convbench.artifacts import Artifacts
from convbench.models.variants import VARIANTS
from convbench.runners.torch_runner import TorchCompile
from convbench.spec import Case, SeedStack


def test_nine_stacks_in_one_process_each_compile_as_one_graph():
    """Every stack is a new nn.Sequential sharing one forward code object; without a reset the ninth compile
    exceeds dynamo's recompile limit (8), which fullgraph=True turns into a hard failure."""
    runner = TorchCompile(1)
    stacks = [SeedStack(v, c, layers=1, batch=1, image=8) for v in VARIANTS for c in (4, 8)][:9]
    for spec in stacks:
        prepared = runner.prepare(Case(spec, "torch-compile", "torch", "cpu"), Artifacts(Path("unused")))
        assert prepared.options["graph_breaks"] == "none (fullgraph=True)", spec.stack_id
        assert prepared.compile_ms > 0


def test_a_compile_says_whether_inductors_on_disk_cache_served_it(tmp_path):
    """Two fresh processes compile one stack with an empty cache folder: the first compiles cold, the second is
    served by inductor's FX graph cache (its compile_ms is then no cold start)."""
    script = (
        "import sys; from pathlib import Path; from convbench.artifacts import Artifacts; "
        "from convbench.runners.torch_runner import TorchCompile; from convbench.spec import Case, SeedStack; "
        "p = TorchCompile(1).prepare(Case(SeedStack('conv3x3', 4, layers=1, batch=1, image=8), 'torch-compile', "
        "'torch', 'cpu'), Artifacts(Path('unused'))); print(p.compile_cache, p.compile_ms)")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    states = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
              .stdout.split()[-2] for _ in range(2)]
    assert states == ["cold", "warm"]
