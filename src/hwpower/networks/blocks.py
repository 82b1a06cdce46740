"""The block vocabulary of networks, each block a typed, validated dataclass that expands into layers.

What a block is (the :class:`Block` protocol, the registry, the field schema and the JSON parsing)
is in :mod:`hwpower.networks.blockbase`, which also says how a new block type is added. Each field
below declares its schema (``_f(schema, default)``): ``pos`` positive int, ``nonneg`` non-negative
int, ``posf`` positive float, ``bool``, or a tuple of allowed strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import InputError
from .blockbase import ACTIVATIONS, BLOCK_TYPES, Block, block_from_dict, register_block
from .blockbase import schema_field as _f  # short: the field lists below read as schemas
from .layers import Layer, LayerOp


def conv_out_size(in_size: int, kernel: int, stride: int, padding: int) -> int:
    return (in_size + 2 * padding - kernel) // stride + 1


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channel rounding used by MobileNet-family definitions (torchvision ``_make_divisible``)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


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


__all__ = ["ACTIVATIONS", "BLOCK_TYPES", "Block", "register_block", "block_from_dict", "InputError"]
