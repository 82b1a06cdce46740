"""The block vocabulary of networks, each block a typed, validated dataclass that expands into layers.

A new block type is added in one place: write a dataclass deriving from :class:`Block`, give it a
``type_name`` and ``layers()``, and decorate it with :func:`register_block`. Reading, writing,
validation, counting and the oracle then know it; nothing matches block types by substring.

Field metadata forms the schema each block is validated against (``schema`` key):
``pos`` positive int, ``nonneg`` non-negative int, ``posf`` positive float, ``bool``, or a tuple
of allowed strings. Fields with a default are optional in JSON.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InputError
from .layers import Layer, LayerOp

ACTIVATIONS = ("none", "relu", "relu6", "hswish", "hsigmoid", "swish", "sigmoid")

BLOCK_TYPES: dict[str, type[Block]] = {}


def register_block(cls: type[Block]) -> type[Block]:
    """Class decorator: make a block type known to the JSON reader and writer."""
    if cls.type_name in BLOCK_TYPES:
        raise ValueError(f"block type {cls.type_name!r} registered twice")
    BLOCK_TYPES[cls.type_name] = cls
    return cls


def _f(schema: Any, default: Any = dataclasses.MISSING) -> Any:
    return field(default=default, metadata={"schema": schema})


def conv_out_size(in_size: int, kernel: int, stride: int, padding: int) -> int:
    return (in_size + 2 * padding - kernel) // stride + 1


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channel rounding used by MobileNet-family definitions (torchvision ``_make_divisible``)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class Block(ABC):
    """A block of a network: knows its input/output shape and the layers it expands into."""

    type_name: ClassVar[str]

    @property
    @abstractmethod
    def in_shape(self) -> tuple[int, int]:
        """(channels, size) of the input tensor."""

    @property
    @abstractmethod
    def out_shape(self) -> tuple[int, int]:
        """(channels, size) of the output tensor."""

    @abstractmethod
    def layers(self, prefix: str = "") -> list[Layer]:
        """The layers this block expands into, in execution order."""

    def accepts(self, shape: tuple[int, int]) -> bool:
        """Whether this block can follow a block whose output has ``shape``."""
        return shape == self.in_shape

    def check(self) -> None:
        """Cross-field checks beyond the per-field schema; raise ``ValueError`` with the problem."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Block:
        """Validate ``data`` (without its ``type`` key) against the schema and build the block.

        Raises ``ValueError`` naming the field and the problem; callers add file and position.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known) - {"type"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} for block type {cls.type_name!r}")
        kwargs: dict[str, Any] = {}
        for name, f in known.items():
            if name not in data:
                if f.default is dataclasses.MISSING:
                    raise ValueError(f"missing field {name!r}")
                continue
            if data[name] is None and f.default is not None:  # null only stands for an optional field's default
                raise ValueError(f"field {name!r} must not be null")
            kwargs[name] = _validate_field(name, data[name], f.metadata["schema"])
        block = cls(**kwargs)
        block.check()
        return block


def _validate_field(name: str, value: Any, schema: Any) -> Any:
    if value is None:
        return None
    if schema == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"field {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(schema, tuple):
        if value not in schema:
            raise ValueError(f"field {name!r} must be one of {list(schema)}, got {value!r}")
        return value
    if schema in ("pos", "nonneg"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field {name!r} must be an integer, got {value!r}")
        if value < (1 if schema == "pos" else 0):
            raise ValueError(f"field {name!r} must be {'positive' if schema == 'pos' else '>= 0'}, got {value}")
        return value
    if schema == "posf":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"field {name!r} must be a number, got {value!r}")
        if value <= 0:
            raise ValueError(f"field {name!r} must be positive, got {value}")
        return float(value)
    raise AssertionError(f"unknown schema {schema!r}")


@register_block
@dataclass(frozen=True)
class ConvBlock(Block):
    """Convolution (+ optional batch norm and activation). ``groups`` = channels is depthwise."""

    type_name: ClassVar[str] = "conv"
    in_channels: int = _f("pos")
    out_channels: int = _f("pos")
    kernel: int = _f("pos")
    input_size: int = _f("pos")
    stride: int = _f("pos", 1)
    groups: int = _f("pos", 1)
    padding: int | None = _f("nonneg", None)  # default: kernel // 2 ("same" for odd kernels)
    activation: str = _f(ACTIVATIONS, "relu")
    bias: bool = _f("bool", False)
    norm: bool = _f("bool", True)

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding is None else self.padding

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.in_channels, self.input_size)

    @property
    def out_shape(self) -> tuple[int, int]:
        return (self.out_channels, conv_out_size(self.input_size, self.kernel, self.stride, self.pad))

    def check(self) -> None:
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"groups={self.groups} must divide in_channels={self.in_channels} and out_channels={self.out_channels}"
            )
        if self.out_shape[1] < 1:
            raise ValueError(f"kernel {self.kernel} does not fit input size {self.input_size}")

    def layers(self, prefix: str = "") -> list[Layer]:
        return [
            Layer(f"{prefix}conv", LayerOp.CONV, self.in_channels, self.out_channels, self.input_size,
                  self.out_shape[1], self.kernel, self.stride, self.groups, self.bias, self.norm)
        ]


@register_block
@dataclass(frozen=True)
class MBConvBlock(Block):
    """Inverted residual (MobileNetV2/V3, EfficientNet): expand 1x1, depthwise, optional SE, project 1x1.

    The expand convolution is absent when ``expand_ratio`` is 1. A residual add follows when the
    stride is 1 and input and output channels match.
    """

    type_name: ClassVar[str] = "mbconv"
    in_channels: int = _f("pos")
    out_channels: int = _f("pos")
    expand_ratio: float = _f("posf")
    kernel: int = _f("pos")
    stride: int = _f("pos")
    input_size: int = _f("pos")
    se: bool = _f("bool", False)
    activation: str = _f(ACTIVATIONS, "relu")
    mid_channels: int | None = _f("pos", None)  # default: make_divisible(in_channels * expand_ratio)
    se_channels: int | None = _f("pos", None)  # default: make_divisible(mid_channels / 4)

    @property
    def mid(self) -> int:
        if self.mid_channels is not None:
            return self.mid_channels
        if self.expand_ratio == 1:
            return self.in_channels
        return make_divisible(round(self.in_channels * self.expand_ratio))

    @property
    def squeeze(self) -> int:
        # mid // 4 as OFA and torchvision MobileNetV3 compute it (not mid / 4)
        return self.se_channels if self.se_channels is not None else make_divisible(self.mid // 4)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.in_channels, self.input_size)

    @property
    def out_shape(self) -> tuple[int, int]:
        return (self.out_channels, conv_out_size(self.input_size, self.kernel, self.stride, self.kernel // 2))

    def check(self) -> None:
        if self.expand_ratio < 1:
            raise ValueError(f"expand_ratio must be >= 1, got {self.expand_ratio}")
        if self.expand_ratio == 1 and self.mid_channels not in (None, self.in_channels):
            raise ValueError("expand_ratio 1 means no expansion: mid_channels must equal in_channels")

    def layers(self, prefix: str = "") -> list[Layer]:
        c_in, mid, size, out_size = self.in_channels, self.mid, self.input_size, self.out_shape[1]
        out: list[Layer] = []
        if mid != c_in:  # torchvision's rule: no expand convolution when nothing is expanded
            out.append(Layer(f"{prefix}expand", LayerOp.CONV, c_in, mid, size, size, norm=True))
        out.append(Layer(f"{prefix}dw", LayerOp.CONV, mid, mid, size, out_size, self.kernel, self.stride,
                         groups=mid, norm=True))
        if self.se:
            sq = self.squeeze
            out += [
                Layer(f"{prefix}se.pool", LayerOp.POOL, mid, mid, out_size, 1, kernel=out_size, stride=out_size),
                Layer(f"{prefix}se.reduce", LayerOp.CONV, mid, sq, 1, 1, bias=True),
                Layer(f"{prefix}se.expand", LayerOp.CONV, sq, mid, 1, 1, bias=True),
                Layer(f"{prefix}se.scale", LayerOp.ELTWISE, mid, mid, out_size, out_size, n_inputs=2, joins="se"),
            ]
        out.append(Layer(f"{prefix}project", LayerOp.CONV, mid, self.out_channels, out_size, out_size, norm=True))
        if self.residual:
            out.append(Layer(f"{prefix}add", LayerOp.ELTWISE, self.out_channels, self.out_channels, out_size,
                             out_size, n_inputs=2, joins="input"))
        return out


@register_block
@dataclass(frozen=True)
class ResidualBlock(Block):
    """ResNet block: ``basic`` (two 3x3) or ``bottleneck`` (1x1, 3x3, 1x1), with a 1x1 projection
    shortcut when the shape changes, and the residual add."""

    type_name: ClassVar[str] = "resblock"
    in_channels: int = _f("pos")
    out_channels: int = _f("pos")
    mid_channels: int = _f("pos")
    input_size: int = _f("pos")
    stride: int = _f("pos", 1)
    kind: str = _f(("basic", "bottleneck"), "basic")

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.in_channels, self.input_size)

    @property
    def out_shape(self) -> tuple[int, int]:
        return (self.out_channels, conv_out_size(self.input_size, 3, self.stride, 1))

    def layers(self, prefix: str = "") -> list[Layer]:
        c_in, mid, c_out, s = self.in_channels, self.mid_channels, self.out_channels, self.stride
        size, out_size = self.input_size, self.out_shape[1]
        if self.kind == "basic":
            out = [
                Layer(f"{prefix}conv1", LayerOp.CONV, c_in, mid, size, out_size, 3, s, norm=True),
                Layer(f"{prefix}conv2", LayerOp.CONV, mid, c_out, out_size, out_size, 3, 1, norm=True),
            ]
        else:
            out = [
                Layer(f"{prefix}conv1", LayerOp.CONV, c_in, mid, size, size, 1, 1, norm=True),
                Layer(f"{prefix}conv2", LayerOp.CONV, mid, mid, size, out_size, 3, s, norm=True),
                Layer(f"{prefix}conv3", LayerOp.CONV, mid, c_out, out_size, out_size, 1, 1, norm=True),
            ]
        if s != 1 or c_in != c_out:
            out.append(Layer(f"{prefix}downsample", LayerOp.CONV, c_in, c_out, size, out_size, 1, s, norm=True,
                             branch=True))
        out.append(Layer(f"{prefix}add", LayerOp.ELTWISE, c_out, c_out, out_size, out_size, n_inputs=2, joins="input"))
        return out


@register_block
@dataclass(frozen=True)
class LinearBlock(Block):
    """Fully connected layer; it flattens its input, so ``in_features`` = channels x size x size."""

    type_name: ClassVar[str] = "linear"
    in_features: int = _f("pos")
    out_features: int = _f("pos")
    bias: bool = _f("bool", True)
    activation: str = _f(ACTIVATIONS, "none")

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.in_features, 1)

    @property
    def out_shape(self) -> tuple[int, int]:
        return (self.out_features, 1)

    def accepts(self, shape: tuple[int, int]) -> bool:
        return shape[0] * shape[1] * shape[1] == self.in_features

    def layers(self, prefix: str = "") -> list[Layer]:
        return [Layer(f"{prefix}fc", LayerOp.LINEAR, self.in_features, self.out_features, 1, 1, bias=self.bias)]


@register_block
@dataclass(frozen=True)
class PoolBlock(Block):
    """Max or average pooling; ``global_pool`` reduces the whole feature map to 1 x 1."""

    type_name: ClassVar[str] = "pool"
    channels: int = _f("pos")
    input_size: int = _f("pos")
    mode: str = _f(("max", "avg"), "avg")
    global_pool: bool = _f("bool", False)
    kernel: int = _f("pos", 2)
    stride: int | None = _f("pos", None)  # default: kernel
    padding: int = _f("nonneg", 0)

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.channels, self.input_size)

    @property
    def out_shape(self) -> tuple[int, int]:
        if self.global_pool:
            return (self.channels, 1)
        stride = self.kernel if self.stride is None else self.stride
        return (self.channels, conv_out_size(self.input_size, self.kernel, stride, self.padding))

    def check(self) -> None:
        if self.out_shape[1] < 1:
            raise ValueError(f"pool kernel {self.kernel} does not fit input size {self.input_size}")

    def layers(self, prefix: str = "") -> list[Layer]:
        kernel = self.input_size if self.global_pool else self.kernel
        stride = kernel if self.global_pool or self.stride is None else self.stride
        return [Layer(f"{prefix}pool", LayerOp.POOL, self.channels, self.channels, self.input_size,
                      self.out_shape[1], kernel, stride)]


@register_block
@dataclass(frozen=True)
class AddBlock(Block):
    """Element-wise residual add of the running tensor and an earlier one of the same shape."""

    type_name: ClassVar[str] = "add"
    channels: int = _f("pos")
    input_size: int = _f("pos")

    @property
    def in_shape(self) -> tuple[int, int]:
        return (self.channels, self.input_size)

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.in_shape

    def layers(self, prefix: str = "") -> list[Layer]:
        return [Layer(f"{prefix}add", LayerOp.ELTWISE, self.channels, self.channels, self.input_size,
                      self.input_size, n_inputs=2, joins="earlier")]


def block_from_dict(data: Any) -> Block:
    """Build a block from its JSON object; raises ``ValueError`` with the problem."""
    if not isinstance(data, dict):
        raise ValueError(f"a block must be a JSON object, got {type(data).__name__}")
    # Files repeat the same blocks many times, so parsing is memoised. The key carries each value's
    # type so that true, 1 and 1.0 (equal and hash-equal in Python) are still validated separately.
    key = (tuple(data.items()), tuple(map(type, data.values())))
    try:
        hash(key)
    except TypeError:  # a list or object among the values: invalid anyway, report it uncached
        return _block_from_dict(data)
    return _block_from_key(key)


@lru_cache(maxsize=1 << 16)
def _block_from_key(key: tuple[tuple[tuple[str, Any], ...], tuple[type, ...]]) -> Block:
    return _block_from_dict(dict(key[0]))


def _block_from_dict(data: dict[str, Any]) -> Block:
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in BLOCK_TYPES:
        raise ValueError(f"unknown block type {kind!r} (known: {sorted(BLOCK_TYPES)})")
    return BLOCK_TYPES[kind].from_dict(data)


__all__ = ["ACTIVATIONS", "BLOCK_TYPES", "Block", "register_block", "block_from_dict", "InputError"]
