"""What is measured: a workload, and a case = workload x runtime x source x device.

A workload is either the seed's uniform stack of one conv type (StackSpec) or a real network's conv layers
(NetworkSpec). Both offer the same face: an id, their conv skeleton (`nodes`, convbench.skeleton), FLOPs, input
shape, dtype and seed, and their result columns; builders, exporters and runners take either."""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from convbench.errors import UsageError
from convbench.models.networks import NETWORK_IMAGE, NETWORKS
from convbench.models.variants import VARIANTS
from convbench.skeleton import INPUT, ConvNode, Node, check, convs

# float16 / bfloat16: the whole stack in that type. int8: the float32 ONNX export statically quantised (QDQ,
# activations uint8, weights int8 per channel), timed by the runtimes that read ONNX files.
DTYPES = ("float32", "float16", "bfloat16", "int8")
REFERENCE_DTYPE = "float32"
DEVICES = ("cpu", "cuda")

DEFAULT_CHANNELS = (8, 16, 32, 64)
DEFAULT_LAYERS = 16
DEFAULT_BATCH = 32
DEFAULT_IMAGE = 32


@dataclass(frozen=True)
class StackSpec:
    """A `layers`-deep stack of `variant` convs on `batch` x `channels` x `image` x `image` input."""

    variant: str
    channels: int
    layers: int = DEFAULT_LAYERS
    batch: int = DEFAULT_BATCH
    image: int = DEFAULT_IMAGE
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise UsageError(f"unknown conv type {self.variant!r}; valid: {', '.join(VARIANTS)}")
        _check_sizes_dtype_memory(self, ("channels", "layers", "batch", "image"))
        kh, kw = VARIANTS[self.variant].effective_kernel
        if max(kh, kw) > self.image:
            raise UsageError(
                f"{self.variant} spans {kh}x{kw} pixels, larger than the {self.image}x{self.image} image; "
                f"use --image {max(kh, kw)} or more"
            )

    @property
    def stack_id(self) -> str:
        """File-name-safe id naming the conv type, every size and a dtype other than float32, e.g.
        conv3x3-c64-l16-b32-i32 (float32) or conv3x3-c64-l16-b32-i32-float16."""
        sizes = f"{self.variant}-c{self.channels}-l{self.layers}-b{self.batch}-i{self.image}"
        return sizes if self.dtype == REFERENCE_DTYPE else f"{sizes}-{self.dtype}"

    @property
    def reference(self) -> StackSpec:
        """The same stack in float32: its PyTorch output is the reference every dtype is compared with, and int8
        is quantised from its export."""
        return replace(self, dtype=REFERENCE_DTYPE)

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
        """FLOPs of one forward of the whole stack."""
        return self.layers * VARIANTS[self.variant].layer_flops(self.channels, self.batch, self.image)

    @property
    def memory_bytes(self) -> int:
        """The least memory a build of the stack takes: every layer's float32 weights and two activations."""
        weights = self.layers * math.prod(VARIANTS[self.variant].weight_shape(self.channels))
        return 4 * (weights + 2 * math.prod(self.input_shape_nchw))

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.image, self.image)

    def columns(self) -> dict[str, object]:
        return {**asdict(self), "network": ""}


@dataclass(frozen=True)
class NetworkSpec:
    """A real network's conv layers at their real shapes (convbench.models.networks), on `batch` x 3 x `image` x
    `image` input."""

    network: str
    batch: int = DEFAULT_BATCH
    image: int = NETWORK_IMAGE
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise UsageError(f"unknown network {self.network!r}; valid: {', '.join(NETWORKS)}")
        _check_sizes_dtype_memory(self, ("batch", "image"))

    @property
    def stack_id(self) -> str:
        """e.g. mobilenet_v2-b1-i224, or resnet50-b32-i224-float16."""
        sizes = f"{self.network}-b{self.batch}-i{self.image}"
        return sizes if self.dtype == REFERENCE_DTYPE else f"{sizes}-{self.dtype}"

    @property
    def reference(self) -> NetworkSpec:
        return replace(self, dtype=REFERENCE_DTYPE)

    @property
    def nodes(self) -> tuple[Node, ...]:
        return _network_nodes(self.network, self.image)

    @property
    def layers(self) -> int:
        """Conv layers."""
        return len(convs(self.nodes))

    @property
    def flops(self) -> int:
        return sum(node.flops(self.batch) for node in convs(self.nodes))

    @property
    def memory_bytes(self) -> int:
        """The weights and, at most, the activations of every layer at once, in float32."""
        layers = convs(self.nodes)
        return 4 * sum(math.prod(n.weight_shape) + n.activation_elements(self.batch) for n in layers)

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, 3, self.image, self.image)

    def columns(self) -> dict[str, object]:
        return {"variant": "", "channels": None, "layers": self.layers, "batch": self.batch, "image": self.image,
                "dtype": self.dtype, "seed": self.seed, "network": self.network}


Workload = StackSpec | NetworkSpec


def _check_sizes_dtype_memory(spec: Workload, sizes: tuple[str, ...]) -> None:
    """UsageError unless the named sizes are positive integers, the dtype is known and the workload fits in this
    machine's memory."""
    for name in sizes:
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    if spec.dtype not in DTYPES:
        raise UsageError(f"unknown dtype {spec.dtype!r}; valid: {', '.join(DTYPES)}")
    if spec.memory_bytes > host_memory_bytes():
        raise UsageError(f"{spec.stack_id} needs {spec.memory_bytes / 2**30:.0f} GiB for its weights and activations "
                         f"in float32, more than this machine's {host_memory_bytes() / 2**30:.0f} GiB of memory; use "
                         f"smaller {', '.join('--' + n for n in sizes)}")


@functools.cache
def _network_nodes(network: str, image: int) -> tuple[Node, ...]:
    nodes = tuple(NETWORKS[network].skeleton(image).nodes)
    check(nodes, 3, (image, image))
    return nodes


@dataclass(frozen=True)
class Case:
    """One row of the results: a workload timed by one runtime on one model source and device."""

    spec: Workload
    runtime: str
    source: str
    device: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.spec.stack_id, self.runtime, self.source, self.device)


def expand_specs(
    variants: Sequence[str],
    channels: Sequence[int],
    layers: int = DEFAULT_LAYERS,
    batch: int | Sequence[int] = DEFAULT_BATCH,
    image: int = DEFAULT_IMAGE,
    dtypes: Sequence[str] = (REFERENCE_DTYPE,),
) -> list[StackSpec]:
    """Every stack of the sweep, dtype-major, then variant-major in the order given (then channels, batch)."""
    batches = [batch] if isinstance(batch, int) else list(batch)
    return [StackSpec(v, c, layers, b, image, dtype)
            for dtype, v, c, b in itertools.product(dtypes, variants, channels, batches)]


def expand_networks(networks: Sequence[str], batches: Sequence[int], dtypes: Sequence[str] = (REFERENCE_DTYPE,),
                    image: int = NETWORK_IMAGE) -> list[NetworkSpec]:
    """Every network workload of the sweep, dtype-major, then network, then batch."""
    return [NetworkSpec(n, b, image, dtype) for dtype, n, b in itertools.product(dtypes, networks, batches)]


def host_memory_bytes() -> int:
    """Physical memory of this machine (bytes)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
