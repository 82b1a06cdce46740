"""Once-for-All MobileNetV3: the seed's search space, as block sequences (the compact form)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..blocks import Block, ConvBlock, LinearBlock, MBConvBlock, PoolBlock
from ..network import Network
from .registry import register_space


@dataclass(frozen=True)
class OFAMobileNetV3:
    """Once-for-All MobileNetV3 space (Cai et al., ICLR 2020), width multiplier 1.0.

    Five stages after a fixed stem and first block; per stage a depth in {2,3,4}; per block a
    kernel in {3,5,7} and an expand ratio in {3,4,6}; input resolution in {160,...,224}.
    """

    name: str = "ofa-mbv3"
    depths: tuple[int, ...] = (2, 3, 4)
    kernels: tuple[int, ...] = (3, 5, 7)
    expand_ratios: tuple[int, ...] = (3, 4, 6)
    resolutions: tuple[int, ...] = (160, 176, 192, 208, 224)
    stage_width: tuple[int, ...] = (24, 40, 80, 112, 160)
    stage_stride: tuple[int, ...] = (2, 2, 2, 1, 2)
    stage_act: tuple[str, ...] = ("relu", "relu", "hswish", "hswish", "hswish")
    stage_se: tuple[bool, ...] = (False, True, False, True, True)
    num_classes: int = 1000

    def sample(self, rng: np.random.Generator) -> tuple[tuple, Network]:
        n_stages, max_depth = len(self.stage_width), max(self.depths)
        resolution = int(rng.choice(self.resolutions))
        depths = rng.choice(self.depths, size=n_stages)
        kernels = rng.choice(self.kernels, size=(n_stages, max_depth))
        expands = rng.choice(self.expand_ratios, size=(n_stages, max_depth))
        key = (resolution,) + tuple(
            (int(kernels[s, b]), int(expands[s, b])) if b < depths[s] else None
            for s in range(n_stages)
            for b in range(max_depth)
        )
        return key, self.build(resolution, depths, kernels, expands)

    def build(self, resolution: int, depths, kernels, expands) -> Network:
        size = (resolution - 1) // 2 + 1
        blocks: list[Block] = [
            ConvBlock(3, 16, 3, resolution, stride=2, activation="hswish"),
            MBConvBlock(16, 16, 1, 3, 1, size, activation="relu"),
        ]
        channels = 16
        for s, width in enumerate(self.stage_width):
            for b in range(int(depths[s])):
                stride = self.stage_stride[s] if b == 0 else 1
                block = MBConvBlock(channels, width, float(expands[s][b]), int(kernels[s][b]), stride, size,
                                    se=self.stage_se[s], activation=self.stage_act[s])
                blocks.append(block)
                channels, size = block.out_shape
        blocks += [
            ConvBlock(channels, 960, 1, size, activation="hswish"),
            PoolBlock(960, size, mode="avg", global_pool=True),
            ConvBlock(960, 1280, 1, 1, activation="hswish", norm=False),
            LinearBlock(1280, self.num_classes),
        ]
        return Network.build(blocks, resolution)


register_space(OFAMobileNetV3())
