"""Pieces the graph spaces share: drawing choices and the layers several families use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from ..builder import GraphBuilder

T = TypeVar("T")

# Input resolutions of the CNN spaces (the zoo's 224 and the smaller and larger ones around it).
CNN_RESOLUTIONS = (128, 160, 192, 224, 256, 288, 320)
NUM_CLASSES = 1000


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One of ``options`` as the Python value (not a NumPy scalar, so JSON and keys stay plain)."""
    return options[int(rng.integers(len(options)))]


def round_to(value: float, multiple: int) -> int:
    """The nearest positive multiple (hardware-friendly channel counts)."""
    return max(multiple, int(round(value / multiple)) * multiple)


def squeeze_excite(b: GraphBuilder, x: str, reduced: int, act: str = "relu") -> str:
    """Global pool, 1x1 reduce and expand (with bias), sigmoid gate, channel-wise scale."""
    channels = b.shape(x)[1]
    with b.scope("se"):
        s = b.global_pool(x)
        s = b.conv(s, reduced, 1, norm=False, bias=True, act=act)
        s = b.conv(s, channels, 1, norm=False, bias=True, act="sigmoid")
        return b.mul(x, s)


def classifier(b: GraphBuilder, x: str, classes: int = NUM_CLASSES) -> str:
    """Global average pool, flatten, fully connected."""
    with b.scope("head"):
        return b.linear(b.flatten(b.global_pool(x)), classes)
