"""Neural architecture search spaces: the networks a predictor trains on.

Spaces are registered by name in :data:`SEARCH_SPACES`; add one by writing a class with ``name``
and ``sample(rng) -> (key, network)`` and decorating an instance with :func:`register_space`.
Built in (one module each): ``ofa-mbv3`` (block sequences), ``resnet``, ``transformer`` and
``mixed`` (operator graphs written with :class:`~hwpower.networks.builder.GraphBuilder`).
Zoo models (torchvision, timm, Hugging Face) are for evaluation only and never sampled here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable

import numpy as np

from ...errors import InputError
from ..jsonio import AnyNetwork
from .registry import SEARCH_SPACES, SearchSpace, graph_key, register_space


def unknown_space(space: str) -> InputError:
    close = difflib.get_close_matches(space, list(SEARCH_SPACES), n=3, cutoff=0.4)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return InputError(f"unknown search space {space!r} (known: {', '.join(sorted(SEARCH_SPACES))}){hint}",
                      where="space")


def sample_networks(space: str, n: int, seed: int, *, start_id: int = 0,
                    progress: Callable[[int], None] | None = None) -> dict[int, AnyNetwork]:
    """Sample ``n`` distinct networks from a registered space, deterministically from ``seed``.

    ``progress``, if given, is called with the number of networks drawn so far (for progress bars).
    """
    if space not in SEARCH_SPACES:
        raise unknown_space(space)
    sampler = SEARCH_SPACES[space]
    rng = np.random.default_rng(seed)
    seen: set[Hashable] = set()
    nets: dict[int, AnyNetwork] = {}
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


# The built-in spaces register themselves on import.
from . import mixed, ofa_mbv3, resnet, transformer  # noqa: E402,F401

__all__ = ["SEARCH_SPACES", "SearchSpace", "graph_key", "register_space", "sample_networks", "unknown_space"]

__all__ = ["SEARCH_SPACES", "SearchSpace", "graph_key", "register_space", "sample_networks"]
