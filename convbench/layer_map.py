"""Which conv layer of a workload each profiler event is: the bridge from a profiler's names to the skeleton.

Profilers name convolution events their own way (runners.profilers.KernelTime.layer_events):
- PyTorch eager (CPU and CUDA): by position in the forward, "#0", "#1", ...: nn.Sequential and SkeletonNet run the
  skeleton's convs in its order, so position i is layer i;
- onnxruntime and OpenVINO: by the ONNX node (its name, or its output's, with a provider's suffix such as "_nchwc"),
  which the file maps to a layer through the weight it reads (torch.onnx names it `convs.<layer>.weight`) or its
  own name (tf2onnx keeps the Keras layer's name: `<model>/<layer>_1/convolution`); in a plain chain, file order;
- TensorFlow: by op name, which holds the Keras layer's name.
A layer's name is its skeleton name with dots as underscores, as both builders name their layers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from convbench.errors import Skip
from convbench.skeleton import convs, is_chain
from convbench.spec import Workload

CONV_OPS = ("Conv", "ConvInteger", "QLinearConv")


def layer_tokens(spec: Workload) -> list[str]:
    return [node.name.replace(".", "_") for node in convs(spec.nodes)]


def token_index(text: str, tokens: Sequence[str]) -> int | None:
    """The layer whose name appears in `text` as a whole path component (Keras may add "_1"); the longest such
    name where several do."""
    best = None
    for i, token in enumerate(tokens):
        if re.search(rf"(^|[./ ]){re.escape(token)}(_\d+)?([./: ]|$)", text) and (
                best is None or len(token) > len(tokens[best])):
            best = i
    return best


def onnx_names(path: Path, spec: Workload) -> dict[str, int]:
    """Each conv node's name and output names in the ONNX file -> its layer index."""
    import onnx

    tokens = layer_tokens(spec)
    model = onnx.load(str(path), load_external_data=False)
    nodes = [n for n in model.graph.node if n.op_type in CONV_OPS]
    by_order = is_chain(spec.nodes) and len(nodes) == len(tokens)
    names: dict[str, int] = {}
    for order, node in enumerate(nodes):
        index = token_index(" ".join([node.name, *node.input[1:2]]), tokens)
        if index is None and by_order:
            index = order
        if index is not None:
            names.update({name: index for name in (node.name, *node.output) if name})
    return names


def resolver(spec: Workload, onnx_path: Path | None) -> Callable[[str], int | None]:
    """label -> layer index (None: not a layer of this workload)."""
    tokens = layer_tokens(spec)
    names = onnx_names(onnx_path, spec) if onnx_path is not None else {}

    def resolve(label: str) -> int | None:
        if label.startswith("#") and label[1:].isdigit():
            return int(label[1:]) if int(label[1:]) < len(tokens) else None
        if names:
            for candidate in (label, re.sub(r"_nchwc$", "", label), re.sub(r"(:0)?(_nchwc)?$", "", label)):
                if candidate in names:
                    return names[candidate]
            return None
        return token_index(label, tokens)

    return resolve


def attribute(events: Sequence[tuple[str, float]], resolve: Callable[[str], int | None], layers: int
              ) -> list[float]:
    """Each layer's ms per forward from the profiler's conv events; Skip saying why they cannot be told apart."""
    if not events:
        raise Skip("the profiler names no conv event this runtime ran (compiled or captured as a whole)")
    per_layer = [0.0] * layers
    seen = [False] * layers
    for label, ms in events:
        index = resolve(label)
        if index is None:
            raise Skip(f"conv event {label!r} matches no layer")
        per_layer[index] += ms
        seen[index] = True
    if not all(seen):
        raise Skip(f"{seen.count(False)} of {layers} conv layers had no event of their own (fused or renamed)")
    return per_layer
