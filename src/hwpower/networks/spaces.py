"""Neural architecture search spaces: the seed's networks "from the search phase".

Spaces are registered by name in :data:`SEARCH_SPACES`; add one by writing a class with ``name``,
``size`` and ``sample(rng)`` and decorating it with :func:`register_space`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputError
from .blocks import Block, ConvBlock, LinearBlock, MBConvBlock, PoolBlock
from .network import Network


class SearchSpace(Protocol):
    name: str

    def sample(self, rng: np.random.Generator) -> tuple[tuple, Network]:
        """Return (a hashable architecture key, the network). Equal keys mean equal networks."""
        ...


SEARCH_SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    if space.name in SEARCH_SPACES:
        raise ValueError(f"search space {space.name!r} registered twice")
    SEARCH_SPACES[space.name] = space
    return space


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


def sample_networks(space: str, n: int, seed: int, *, start_id: int = 0,
                    progress: Callable[[int], None] | None = None) -> dict[int, Network]:
    """Sample ``n`` distinct networks from a registered space, deterministically from ``seed``.

    ``progress``, if given, is called with the number of networks drawn so far (for progress bars).
    """
    if space not in SEARCH_SPACES:
        raise InputError(f"unknown search space {space!r} (known: {sorted(SEARCH_SPACES)})", where="space")
    sampler = SEARCH_SPACES[space]
    rng = np.random.default_rng(seed)
    seen: set[tuple] = set()
    nets: dict[int, Network] = {}
    attempts = 0
    while len(nets) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise InputError(f"could not draw {n} distinct networks from {space!r}", where="space")
        key, net = sampler.sample(rng)
        if key in seen:
            continue
        seen.add(key)
        nets[start_id + len(nets)] = net
        if progress is not None:
            progress(len(nets))
    return nets
