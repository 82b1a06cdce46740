"""CNN operator graphs mixing DenseNet, ShuffleNetV2 and RegNet/ResNeXt stages.

Per network: resolution, a 3x3 stem (optionally max-pooled), 3 or 4 stages, each of one family:

- ``dense``: DenseNet layers (concatenate everything before, batch norm + ReLU, 1x1 to 4 x growth,
  3x3 to growth); a transition (norm, 1x1 halving the channels, 2x2 average pool) downsamples.
- ``shuffle``: ShuffleNetV2 units (split the channels, 1x1, depthwise, 1x1 on one half, concatenate,
  channel shuffle); the first unit of a stage takes both branches at stride 2.
- ``grouped``: RegNet/ResNeXt bottlenecks (1x1, grouped 3x3 with a group width, optional
  squeeze-excite as RegNetY, 1x1, residual add, ReLU).

Widths grow by a drawn factor per stage (16..2048 channels); an optional 1x1 head convolution
precedes global pooling and the classifier. The 3x3 stem and the per-stage draws keep every zoo
DenseNet / ShuffleNet / RegNet out of reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..builder import GraphBuilder
from ..graph import GraphNetwork
from .registry import graph_key, register_space
from .parts import CNN_RESOLUTIONS, classifier, pick, round_to, squeeze_excite

MAX_CHANNELS = 2048


@dataclass(frozen=True)
class Stage:
    family: str  # "dense", "shuffle" or "grouped"
    depth: int
    width: int  # shuffle and grouped: output channels; dense: growth rate
    kernel: int = 3  # shuffle: depthwise kernel
    group_width: int = 0  # grouped: channels per group of the 3x3
    bottleneck: float = 1.0  # grouped: 3x3 width / output width
    se: bool = False  # grouped: squeeze-excite (RegNetY)


def _dense_layer(b: GraphBuilder, feats: list[str], growth: int) -> str:
    x = b.concat(feats) if len(feats) > 1 else feats[0]
    x = b.norm(x, "batch", act="relu")  # pre-activation: not foldable into the previous convolution
    x = b.conv(x, 4 * growth, 1)
    return b.conv(x, growth, 3, norm=False, act="none")


def _dense_stage(b: GraphBuilder, x: str, st: Stage, stride: int) -> str:
    if stride > 1:
        with b.scope("transition"):
            x = b.norm(x, "batch", act="relu")
            x = b.conv(x, max(16, b.shape(x)[1] // 2), 1, norm=False, act="none")
            x = b.pool(x, 2, fn="avg")
    feats = [x]
    for i in range(st.depth):
        with b.scope(f"l{i}"):
            feats.append(_dense_layer(b, feats, st.width))
    return b.concat(feats)


def _shuffle_unit(b: GraphBuilder, x: str, st: Stage, stride: int) -> str:
    half = st.width // 2
    if stride > 1 or b.shape(x)[1] != st.width:
        c_in = b.shape(x)[1]
        left = b.conv(b.conv(x, c_in, st.kernel, stride=stride, groups=c_in, act="none"), half, 1)
        right = x
    else:
        left, right = b.split(x, (half, half))
    right = b.conv(right, half, 1)
    right = b.conv(right, half, st.kernel, stride=stride, groups=half, act="none")
    right = b.conv(right, half, 1)
    return b.shuffle(b.concat([left, right]), 2)


def _grouped_block(b: GraphBuilder, x: str, st: Stage, stride: int) -> str:
    c_in = b.shape(x)[1]
    mid = round_to(st.width * st.bottleneck, st.group_width)
    y = b.conv(x, mid, 1)
    y = b.conv(y, mid, 3, stride=stride, groups=mid // st.group_width)
    if st.se:
        y = squeeze_excite(b, y, max(8, c_in // 4))
    y = b.conv(y, st.width, 1, act="none")
    short = x if stride == 1 and c_in == st.width else b.conv(x, st.width, 1, stride=stride, act="none")
    return b.act(b.add(y, short), "relu")


_UNITS = {"shuffle": _shuffle_unit, "grouped": _grouped_block}


@dataclass(frozen=True)
class MixedSpace:
    name: str = "mixed"
    stem_widths: tuple[int, ...] = (16, 24, 32, 48, 64)
    first_widths: tuple[int, ...] = (32, 48, 64, 96, 128, 160)
    growths: tuple[float, ...] = (1.5, 2.0, 2.0, 2.5)
    head_widths: tuple[int, ...] = (0, 0, 512, 1024, 1280, 2048)  # 0: no head convolution

    def draw_stage(self, rng: np.random.Generator, width: int) -> Stage:
        family = pick(rng, ("dense", "shuffle", "grouped"))
        if family == "dense":
            return Stage(family, int(rng.integers(2, 17)), pick(rng, (12, 16, 24, 32, 48)))
        depth = int(rng.integers(1, 9))
        if family == "shuffle":
            return Stage(family, depth, round_to(width, 16), kernel=pick(rng, (3, 5)))
        group_width = pick(rng, (8, 16, 24, 32, 48, 64))
        return Stage(family, depth, min(round_to(width, group_width), MAX_CHANNELS // group_width * group_width),
                     group_width=group_width,
                     bottleneck=pick(rng, (0.25, 0.5, 1.0, 1.0)), se=bool(rng.random() < 0.5))

    def sample(self, rng: np.random.Generator) -> tuple[str, GraphNetwork]:
        resolution, stem = pick(rng, CNN_RESOLUTIONS), pick(rng, self.stem_widths)
        maxpool = bool(rng.random() < 0.5)
        width, growth = pick(rng, self.first_widths), pick(rng, self.growths)
        stages = []
        for _ in range(pick(rng, (3, 4))):
            stages.append(self.draw_stage(rng, min(width, MAX_CHANNELS)))
            width = width * growth
        net = build_mixed(resolution, stem, maxpool, stages, pick(rng, self.head_widths))
        return graph_key(net), net


def build_mixed(resolution: int, stem: int, maxpool: bool, stages: list[Stage], head: int) -> GraphNetwork:
    b = GraphBuilder()
    with b.scope("stem"):
        x = b.conv(b.input((1, 3, resolution, resolution)), stem, 3, stride=2)
        if maxpool:
            x = b.pool(x, 3, stride=2, padding=1)
    for s, st in enumerate(stages):
        stride = 1 if s == 0 and maxpool else 2
        with b.scope(f"s{s}"):
            if st.family == "dense":
                x = _dense_stage(b, x, st, stride)
                continue
            for i in range(st.depth):
                with b.scope(f"b{i}"):
                    x = _UNITS[st.family](b, x, st, stride if i == 0 else 1)
    if stages[-1].family == "dense":
        x = b.norm(x, "batch", act="relu", name="final_norm")
    if head:
        x = b.conv(x, head, 1, name="head_conv")
    classifier(b, x)
    return b.build("mixed-" + "-".join(f"{st.family[0]}{st.depth}" for st in stages) + f"-{resolution}")


register_space(MixedSpace())
