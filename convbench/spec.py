"""What is measured: a workload, and a case = workload x runtime x source x device.

A workload is the seed's uniform stack of one conv type (SeedStack), a real network's conv layers (NetworkConvs), or
a whole network as its library defines it (WholeModel: torchvision's or keras.applications'). All offer the same
face: an id, their conv skeleton (`nodes`, convbench.skeleton; a whole model's is empty: its layers are its
library's), FLOPs, input shape, dtype, pass and seed, and their result columns; builders, exporters and runners take
any.

The pass says what one timed call does (convbench.passes): "forward", or "train", one training step without an
optimizer (forward, loss = sum of the output, gradients of every weight and of the input), whose FLOPs count 3x
the forward's: every layer runs forward, backward-data and backward-weights."""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from convbench.errors import BadInput
from convbench.models.networks import NETWORK_IMAGE, NETWORKS
from convbench.models.variants import VARIANTS
from convbench.models.whole import WHOLE_IMAGE, definition, framework_of_source, missing_in
from convbench.schema import KEY_COLUMNS, WORKLOAD_COLUMNS
from convbench.skeleton import INPUT, ConvNode, Node, check, convs

# float32: IEEE float32 math in every runtime (on CUDA: TF32 off in torch, cuDNN, onnxruntime's CUDA provider, JAX and
# TensorFlow). tf32: float32 tensors whose convolutions and matmuls run in TF32 on NVIDIA tensor cores (10-bit
# mantissa); a math mode, so it runs float32's files and exists on CUDA only. float16 / bfloat16: the whole stack in
# that type. int8: the float32 ONNX export statically quantised (QDQ, activations uint8, weights int8 per channel),
# timed by the runtimes that read ONNX files.
DTYPES = ("float32", "tf32", "float16", "bfloat16", "int8")
REFERENCE_DTYPE = "float32"
STORED_AS = {"tf32": "float32"}  # a math mode -> the dtype its tensors and files are in
CUDA_ONLY_DTYPES = {"tf32": "tf32 is a math mode of NVIDIA tensor cores (CUDA); on the CPU float32 is IEEE float32"}


def storage_dtype(dtype: str) -> str:
    """The dtype a `dtype` case's tensors and exported files are in (float32 for tf32)."""
    return STORED_AS.get(dtype, dtype)
PASSES = ("forward", "train")
PASS_FLOP_FACTOR = {"forward": 1, "train": 3}  # train: forward + backward-data + backward-weights, each as costly
DEVICES = ("cpu", "cuda")

T = TypeVar("T")
DEFAULT_CHANNELS = (8, 16, 32, 64)
DEFAULT_LAYERS = 16
DEFAULT_BATCH = 32
DEFAULT_IMAGE = 32


class _Workload:
    """What both kinds of workload derive from their fields (dtype, pass_) and their `sizes_id`."""

    dtype: str
    pass_: str
    whole_model = False  # a whole network as its library defines it (WholeModel), not conv layers of convbench's

    @property
    def sizes_id(self) -> str:
        raise NotImplementedError

    @property
    def stack_id(self) -> str:
        """File-name-safe id: the sizes, then the dtype unless float32, then "train" in the train pass, e.g.
        conv3x3-c64-l16-b32-i32, conv3x3-c64-l16-b32-i32-float16-train, mobilenet_v2-b32-i224-train."""
        dtype = "" if self.dtype == REFERENCE_DTYPE else f"-{self.dtype}"
        return f"{self.sizes_id}{dtype}{'-train' if self.pass_ == 'train' else ''}"

    @property
    def reference(self):  # -> the same class
        """The same workload's float32 forward: its PyTorch output is the reference every dtype and pass is compared
        with (a step's gradients: the reference gradients made from it), and int8 is quantised from its export."""
        return replace(self, dtype=REFERENCE_DTYPE, pass_="forward")

    @property
    def as_file(self):  # -> the same class
        """The workload whose exported files this one runs: the forward pass (a train case has no file of its own)
        in its storage dtype (a tf32 case runs float32's files)."""
        return replace(self, pass_="forward", dtype=storage_dtype(self.dtype))

    def reference_framework(self, source: str) -> str:
        """The framework whose float32 CPU output is the reference of a row of `source`: PyTorch's for a conv stack
        (both frameworks build it from the same weights)."""
        return "torch"

    def not_from(self, source: str) -> str | None:
        """Why rows of `source` (a runtime's model source) cannot time this workload; None where they can."""
        return None

    @property
    def tf32(self) -> bool:
        """Whether the case's float32 math runs in TF32 (on CUDA's tensor cores)."""
        return self.dtype == "tf32"

    def columns(self) -> dict[str, object]:
        """The workload's columns (convbench.schema.WORKLOAD_COLUMNS), each from the field or property of the same
        name; a column this kind of workload has no value for is empty (a network's conv type and channels, a seed
        stack's network)."""
        return {c.name: getattr(self, c.attr or c.name, None if c.kind == "number" else "")
                for c in WORKLOAD_COLUMNS}


@dataclass(frozen=True)
class SeedStack(_Workload):
    """A `layers`-deep stack of `variant` convs on `batch` x `channels` x `image` x `image` input."""

    variant: str
    channels: int
    layers: int = DEFAULT_LAYERS
    batch: int = DEFAULT_BATCH
    image: int = DEFAULT_IMAGE
    dtype: str = "float32"
    seed: int = 0
    pass_: str = "forward"  # the column "pass"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise BadInput(f"unknown conv type {self.variant!r}; valid: {', '.join(VARIANTS)}")
        _check_sizes_dtype_memory(self, ("channels", "layers", "batch", "image"))
        kh, kw = VARIANTS[self.variant].effective_kernel
        if max(kh, kw) > self.image:
            raise BadInput(
                f"{self.variant} spans {kh}x{kw} pixels, larger than the {self.image}x{self.image} image; "
                f"use --image {max(kh, kw)} or more"
            )

    @property
    def sizes_id(self) -> str:
        """The conv type and every size, e.g. conv3x3-c64-l16-b32-i32."""
        return f"{self.variant}-c{self.channels}-l{self.layers}-b{self.batch}-i{self.image}"

    @property
    def nodes(self) -> tuple[Node, ...]:
        """A chain of `layers` identical convs named conv0, conv1, ... ("same" padding, stride 1)."""
        conv = VARIANTS[self.variant]
        size = (self.image, self.image)
        return tuple(ConvNode(f"conv{i}", f"conv{i - 1}" if i else INPUT, self.channels, self.channels, conv.kernel,
                              size, 1, conv.padding, conv.dilation, conv.groups(self.channels))
                     for i in range(self.layers))

    @property
    def flops(self) -> int:
        """FLOPs of one pass of the whole stack: a forward, or a training step (3x the forward's)."""
        return PASS_FLOP_FACTOR[self.pass_] * self.layers * VARIANTS[self.variant].layer_flops(
            self.channels, self.batch, self.image)

    @property
    def memory_bytes(self) -> int:
        """The least memory a build of the stack takes: every layer's float32 weights and two activations; in the
        train pass every layer's activation is kept for the backward, and each weight and activation has a gradient."""
        weights = self.layers * math.prod(VARIANTS[self.variant].weight_shape(self.channels))
        if self.pass_ == "train":
            return 4 * 2 * (weights + (self.layers + 1) * math.prod(self.input_shape_nchw))
        return 4 * (weights + 2 * math.prod(self.input_shape_nchw))

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.image, self.image)



@dataclass(frozen=True)
class NetworkConvs(_Workload):
    """A real network's conv layers at their real shapes (convbench.models.networks), on `batch` x 3 x `image` x
    `image` input."""

    network: str
    batch: int = DEFAULT_BATCH
    image: int = NETWORK_IMAGE
    dtype: str = "float32"
    seed: int = 0
    pass_: str = "forward"  # the column "pass"

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise BadInput(f"unknown network {self.network!r}; valid: {', '.join(NETWORKS)}")
        _check_sizes_dtype_memory(self, ("batch", "image"))

    @property
    def sizes_id(self) -> str:
        """The network and its sizes, e.g. mobilenet_v2-b1-i224."""
        return f"{self.network}-b{self.batch}-i{self.image}"

    @property
    def nodes(self) -> tuple[Node, ...]:
        return _network_nodes(self.network, self.image)

    @property
    def layers(self) -> int:
        """Conv layers."""
        return len(convs(self.nodes))

    @property
    def flops(self) -> int:
        """FLOPs of one pass of the conv layers: a forward, or a training step (3x the forward's)."""
        return PASS_FLOP_FACTOR[self.pass_] * sum(node.flops(self.batch) for node in convs(self.nodes))

    @property
    def memory_bytes(self) -> int:
        """The weights and, at most, the activations of every layer at once, in float32 (train: and their
        gradients)."""
        layers = convs(self.nodes)
        gradients = 2 if self.pass_ == "train" else 1
        return 4 * gradients * sum(math.prod(n.weight_shape) + n.activation_elements(self.batch) for n in layers)

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, 3, self.image, self.image)



@dataclass(frozen=True)
class WholeModel(_Workload):
    """A whole network as its library defines it (convbench.models.whole): torchvision's model for the torch
    sources, keras.applications' for the Keras ones, on `batch` x 3 x `image` x `image` input. Its FLOPs are counted
    per exported file, from the ONNX graph (the manifest's `macs`), not here."""

    model: str
    batch: int = 1
    image: int = WHOLE_IMAGE
    whole_model = True
    dtype: str = "float32"
    seed: int = 0
    pass_: str = "forward"  # the column "pass"

    def __post_init__(self) -> None:
        definition(self.model)
        _check_sizes_dtype_memory(self, ("batch", "image"))

    @property
    def sizes_id(self) -> str:
        """The model, "whole" and its sizes, e.g. resnet50-whole-b32-i224, torchvision.convnext_tiny-whole-b1-i224."""
        return f"{self.model.replace(':', '.')}-whole-b{self.batch}-i{self.image}"

    @property
    def nodes(self) -> tuple[Node, ...]:
        """None of its own: its layers are its library's (no roofline, library floor or layer attribution)."""
        return ()

    @property
    def layers(self) -> float:
        """Conv layers: its library's, not counted here (NaN)."""
        return math.nan

    @property
    def flops(self) -> float:
        """Unknown before export: each file's multiply-adds are counted from its ONNX graph (the manifest)."""
        return math.nan

    @property
    def memory_bytes(self) -> int:
        """Not known before the library builds it: the memory check passes it (a model too large fails its rows)."""
        return 0

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, 3, self.image, self.image)

    def reference_framework(self, source: str) -> str:
        """Each framework's own: a Keras model (keras, tf2onnx, tflite) against Keras' output, a torchvision one
        against PyTorch's."""
        return framework_of_source(source)

    def not_from(self, source: str) -> str | None:
        """A user's model that the source's framework does not have."""
        return missing_in(self.model, framework_of_source(source))


Workload = SeedStack | NetworkConvs | WholeModel


def _check_sizes_dtype_memory(spec: Workload, sizes: tuple[str, ...]) -> None:
    """BadInput unless the named sizes are positive integers, the dtype is known and the workload fits in this
    machine's memory."""
    for name in sizes:
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BadInput(f"{name} must be a positive integer, got {value!r}")
    if spec.dtype not in DTYPES:
        raise BadInput(f"unknown dtype {spec.dtype!r}; valid: {', '.join(DTYPES)}")
    if spec.pass_ not in PASSES:
        raise BadInput(f"unknown pass {spec.pass_!r}; valid: {', '.join(PASSES)}")
    if spec.memory_bytes > host_memory_bytes():
        raise BadInput(f"{spec.stack_id} needs {spec.memory_bytes / 2**30:.0f} GiB for its weights and activations "
                         f"in float32, more than this machine's {host_memory_bytes() / 2**30:.0f} GiB of memory; use "
                         f"smaller {', '.join('--' + n for n in sizes)}")


@functools.cache
def _network_nodes(network: str, image: int) -> tuple[Node, ...]:
    nodes = tuple(NETWORKS[network].skeleton(image).nodes)
    check(nodes, 3, (image, image))
    return nodes


@dataclass(frozen=True)
class Case:
    """One row of the results: a workload timed by one runtime on one model source and device, on one machine
    (convbench.machines: its label; empty where no machine was named)."""

    workload: Workload
    runtime: str
    source: str
    device: str
    machine: str = ""

    def key_columns(self) -> dict[str, str]:
        """The row key's columns (convbench.schema.KEY_COLUMNS) from the case's own fields."""
        values = {"stack_id": self.workload.stack_id, "runtime": self.runtime, "source": self.source,
                  "device": self.device, "machine": self.machine}
        return {name: values[name] for name in KEY_COLUMNS}

    @property
    def key(self) -> tuple[str, ...]:
        """The row key, as convbench.results.row_keys reads it from a table."""
        return tuple(self.key_columns().values())


def expand_specs(
    variants: Sequence[str],
    channels: Sequence[int],
    layers: int = DEFAULT_LAYERS,
    batch: int | Sequence[int] = DEFAULT_BATCH,
    image: int = DEFAULT_IMAGE,
    dtypes: Sequence[str] = (REFERENCE_DTYPE,),
    passes: Sequence[str] = ("forward",),
) -> list[SeedStack]:
    """Every stack of the sweep, pass-major, then dtype, then variant in the order given (then channels, batch)."""
    batches = [batch] if isinstance(batch, int) else list(batch)
    return [SeedStack(v, c, layers, b, image, dtype, pass_=p)
            for p, dtype, v, c, b in itertools.product(passes, dtypes, variants, channels, batches)]


def expand_networks(networks: Sequence[str], batches: Sequence[int], dtypes: Sequence[str] = (REFERENCE_DTYPE,),
                    image: int = NETWORK_IMAGE, passes: Sequence[str] = ("forward",)) -> list[NetworkConvs]:
    """Every network workload of the sweep, pass-major, then dtype, then network, then batch."""
    return [NetworkConvs(n, b, image, dtype, pass_=p)
            for p, dtype, n, b in itertools.product(passes, dtypes, networks, batches)]


def expand_whole_models(models: Sequence[str], batches: Sequence[int], dtypes: Sequence[str] = (REFERENCE_DTYPE,),
                        image: int = WHOLE_IMAGE, passes: Sequence[str] = ("forward",)) -> list[WholeModel]:
    """Every whole-model workload of the sweep, pass-major, then dtype, then model, then batch."""
    return [WholeModel(m, b, image, dtype, pass_=p)
            for p, dtype, m, b in itertools.product(passes, dtypes, models, batches)]


def host_memory_bytes() -> int:
    """Physical memory of this machine (bytes)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def unique(values: Iterable[T]) -> list[T]:
    """`values` without repeats, in order."""
    return list(dict.fromkeys(values))
