"""What is measured: a stack of one conv type (StackSpec), and a case = stack x runtime x source x device."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from convbench.errors import UsageError
from convbench.models.variants import VARIANTS

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
        for name in ("channels", "layers", "batch", "image"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
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
    def flops(self) -> int:
        """FLOPs of one forward of the whole stack."""
        return self.layers * VARIANTS[self.variant].layer_flops(self.channels, self.batch, self.image)

    @property
    def input_shape_nchw(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.image, self.image)

    def columns(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Case:
    """One row of the results: a stack timed by one runtime on one model source and device."""

    spec: StackSpec
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
    batch: int = DEFAULT_BATCH,
    image: int = DEFAULT_IMAGE,
    dtypes: Sequence[str] = (REFERENCE_DTYPE,),
) -> list[StackSpec]:
    """Every stack of the sweep, dtype-major, then variant-major in the order given."""
    return [StackSpec(v, c, layers, batch, image, dtype)
            for dtype, v, c in itertools.product(dtypes, variants, channels)]


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
