"""The registry of search spaces: what a space is, and where the built-in ones register themselves.
The spaces' modules import this module, never the package, so the package may import them."""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Protocol

import numpy as np

from ..graph import GraphNetwork
from ..jsonio import AnyNetwork


class SearchSpace(Protocol):
    name: str

    def sample(self, rng: np.random.Generator) -> tuple[Hashable, AnyNetwork]:
        """Return (a hashable key, the network). Equal keys mean equal networks."""
        ...


SEARCH_SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    if space.name in SEARCH_SPACES:
        raise ValueError(f"search space {space.name!r} registered twice")
    SEARCH_SPACES[space.name] = space
    return space


def graph_key(net: GraphNetwork) -> str:
    """The key of a sampled graph: its inputs and operators as JSON, so two samples are the same
    network exactly when they compute the same (whatever choices or names led to them)."""
    data = net.to_dict()
    return json.dumps([data["inputs"], data["ops"]], separators=(",", ":"))
