"""ResNet / ResNeXt / Wide-ResNet / SE-ResNet-style operator graphs.

Per network: resolution, stem (7x7 or three 3x3 convolutions, then a 3x3 max pool), 3 to 5
stages; basic or bottleneck blocks; first-stage width and growth per stage; bottleneck expansion
(1 to 4: wide to classic); cardinality (grouped 3x3, ResNeXt); squeeze-excite; ResNet-D average
pooled shortcuts; ReLU or SiLU. Per stage a depth: 1..8, the last stage 1..4, the one before it
at times 9..24 (as in ResNet-101). Channels stay within 16..2048 (3x3 widths up to 1024).
The configurations of torchvision's ResNets are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..builder import GraphBuilder
from ..graph import GraphNetwork
from .registry import graph_key, register_space
from .parts import CNN_RESOLUTIONS, classifier, pick, round_to, squeeze_excite

MAX_CHANNELS = 2048
MAX_WIDTH = 512  # a stage's base width before the last (wide_resnet's last stage doubles it)
MAX_BASIC = 1024  # basic blocks: twice torchvision's widest
MAX_MID = 1024  # bottlenecks: the widest 3x3 of the zoo's ResNets (wide_resnet101_2, resnext101_32x8d)

# (resolution, stem, kind, depths, width, growth, expansion, cardinality, mid scale, se, act, shortcut)
# of torchvision's resnet18/34/50/101/152, resnext50_32x4d, wide_resnet50_2/101_2: never sampled
# (their builds have torchvision's exact parameter counts, tested).
_ZOO = frozenset({
    (224, "7x7", "basic", (2, 2, 2, 2), 64, 2.0, 1, 1, 1.0, False, "relu", "conv"),
    (224, "7x7", "basic", (3, 4, 6, 3), 64, 2.0, 1, 1, 1.0, False, "relu", "conv"),
    *((224, "7x7", "bottleneck", d, 64, 2.0, 4, 1, 1.0, False, "relu", "conv")
      for d in ((3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3))),
    (224, "7x7", "bottleneck", (3, 4, 6, 3), 64, 2.0, 4, 32, 2.0, False, "relu", "conv"),
    *((224, "7x7", "bottleneck", d, 128, 2.0, 2, 1, 1.0, False, "relu", "conv") for d in ((3, 4, 6, 3), (3, 4, 23, 3))),
})


@dataclass(frozen=True)
class Choices:
    resolution: int
    stem: str  # "7x7" or "deep" (three 3x3, ResNet-C)
    kind: str  # "basic" or "bottleneck"
    depths: tuple[int, ...]
    width: int  # first-stage block width (bottleneck: the 3x3's width before scaling)
    growth: float  # width factor from one stage to the next
    expansion: int  # bottleneck output = width x expansion
    cardinality: int  # groups of the 3x3 (ResNeXt)
    mid_scale: float  # the 3x3's width relative to ``width`` (ResNeXt widens it)
    se: bool
    act: str
    shortcut: str  # "conv" (1x1 strided) or "avgpool" (ResNet-D)

    def zoo_key(self) -> tuple:
        return (self.resolution, self.stem, self.kind, self.depths, self.width, self.growth, self.expansion,
                self.cardinality, self.mid_scale, self.se, self.act, self.shortcut)


@dataclass(frozen=True)
class ResNetSpace:
    name: str = "resnet"
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 80, 96, 128)
    growths: tuple[float, ...] = (1.5, 2.0, 2.0, 2.5)
    expansions: tuple[int, ...] = (1, 2, 4, 4)
    cardinalities: tuple[int, ...] = (1, 1, 1, 2, 4, 8, 16, 32, 64)

    def draw(self, rng: np.random.Generator) -> Choices:
        n_stages = pick(rng, (3, 4, 4, 5))
        # 1..8 blocks a stage, the widest last one 1..4, the one before last sometimes 9..24 (ResNet-101/152).
        highs = [9] * (n_stages - 2) + [25 if rng.random() < 0.3 else 9, 5]
        depths = tuple(int(rng.integers(1 if high != 25 else 9, high)) for high in highs)
        kind = pick(rng, ("basic", "bottleneck", "bottleneck"))
        width = pick(rng, self.widths)
        cardinality = pick(rng, self.cardinalities) if kind == "bottleneck" else 1
        mid_scale = pick(rng, (1.0, 2.0)) if cardinality > 1 else 1.0
        while cardinality > 1 and width * mid_scale < 4 * cardinality:  # at least 4 channels per group
            cardinality //= 2
        return Choices(pick(rng, CNN_RESOLUTIONS), pick(rng, ("7x7", "deep")), kind, depths, width,
                       pick(rng, self.growths), pick(rng, self.expansions) if kind == "bottleneck" else 1,
                       cardinality, mid_scale, bool(rng.random() < 0.25),
                       pick(rng, ("relu", "relu", "silu")), pick(rng, ("conv", "conv", "avgpool")))

    def sample(self, rng: np.random.Generator) -> tuple[str, GraphNetwork]:
        while True:
            choices = self.draw(rng)
            if choices.zoo_key() not in _ZOO:
                net = build_resnet(choices)
                return graph_key(net), net


def _stem(b: GraphBuilder, x: str, c: Choices) -> str:
    with b.scope("stem"):
        if c.stem == "7x7":
            x = b.conv(x, 64 if c.width >= 48 else 32, 7, stride=2, act=c.act)
        else:
            x = b.conv(x, 32, 3, stride=2, act=c.act)
            x = b.conv(x, 32, 3, act=c.act)
            x = b.conv(x, 64, 3, act=c.act)
        return b.pool(x, 3, stride=2, padding=1)


def _shortcut(b: GraphBuilder, x: str, out: int, stride: int, c: Choices) -> str:
    if stride == 1 and b.shape(x)[1] == out:
        return x
    with b.scope("down"):
        if c.shortcut == "avgpool" and stride > 1:
            x = b.pool(x, stride, fn="avg", ceil_mode=True)
            stride = 1
        return b.conv(x, out, 1, stride=stride, act="none")


def _block(b: GraphBuilder, x: str, width: int, stride: int, c: Choices) -> str:
    """One residual block; ``width`` is the stage's base width."""
    if c.kind == "basic":
        out = min(width, MAX_BASIC)
        y = b.conv(x, out, 3, stride=stride, act=c.act)
        y = b.conv(y, out, 3, act="none")
    else:
        out = min(width * c.expansion, MAX_CHANNELS)
        mid = min(round_to(width * c.mid_scale, c.cardinality), MAX_MID)
        y = b.conv(x, mid, 1, act=c.act)
        y = b.conv(y, mid, 3, stride=stride, groups=c.cardinality, act=c.act)
        y = b.conv(y, out, 1, act="none")
    if c.se:
        y = squeeze_excite(b, y, max(8, out // 16))
    return b.act(b.add(y, _shortcut(b, x, out, stride, c)), c.act)


def build_resnet(c: Choices) -> GraphNetwork:
    b = GraphBuilder()
    x = _stem(b, b.input((1, 3, c.resolution, c.resolution)), c)
    for s, depth in enumerate(c.depths):
        width = min(round_to(c.width * c.growth ** s, 8), MAX_WIDTH if s < len(c.depths) - 1 else 2 * MAX_WIDTH)
        for i in range(depth):
            with b.scope(f"s{s}.b{i}"):
                x = _block(b, x, width, 2 if i == 0 and s > 0 else 1, c)
    classifier(b, x)
    return b.build(f"resnet-{c.kind}-{'-'.join(map(str, c.depths))}-w{c.width}-g{c.cardinality}-{c.resolution}")


register_space(ResNetSpace())
