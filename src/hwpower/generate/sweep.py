"""Oracle sweeps in blocks of rows, on this machine or as Ray tasks on a cluster (docs/scale.md).

``sweep(nets, net_index, hw)`` returns what ``Oracle(settings).evaluate_many(nets, net_index, hw)``
returns, bit for bit: every output row depends on its own hardware row and network alone, so the rows
can be split into blocks and the blocks evaluated anywhere. With ``ray="local" | "auto" | ADDRESS``
each block is a Ray task (the networks are sent once); results come back in row order.
:class:`SweepOracle` offers the same through the oracle's own methods, so code written for an
:class:`~hwpower.oracle.Oracle` (the search's truth checks, the benchmarks' grids) runs on a cluster
by swapping the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..oracle import Oracle, OracleSettings

BLOCK = 1 << 16  # rows per block (per Ray task)


def _evaluate_block(settings: OracleSettings, nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
    return Oracle(settings).evaluate_many(nets, net_index, hw)


def sweep(nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame, *, settings: OracleSettings | None = None,
          ray: str | None = None, block: int = BLOCK, oracle: Oracle | None = None) -> pd.DataFrame:
    """Oracle outputs for row i = ``nets[net_index[i]]`` on hardware row i, ``block`` rows at a time
    (locally one oracle for all blocks: it caches per-network work), index as ``hw``'s."""
    settings = settings or (oracle.settings if oracle is not None else OracleSettings())
    net_index = np.asarray(net_index)
    starts = range(0, len(hw), block)
    if ray is None or len(hw) <= block:
        oracle = oracle or Oracle(settings)
        parts = [oracle.evaluate_many(nets, net_index[a: a + block], hw.iloc[a: a + block]) for a in starts]
    else:
        from .cluster import ensure_ray

        ray_module = ensure_ray(ray)
        remote = ray_module.remote(_evaluate_block)
        nets_ref = ray_module.put(list(nets))
        refs = [remote.remote(settings, nets_ref, net_index[a: a + block], hw.iloc[a: a + block]) for a in starts]
        parts = ray_module.get(refs)
    if not parts:
        return (oracle or Oracle(settings)).evaluate_many(nets, net_index, hw)
    return pd.concat(parts) if len(parts) > 1 else parts[0]


class SweepOracle:
    """An :class:`~hwpower.oracle.Oracle` whose ``evaluate_many`` and ``evaluate`` run in blocks, as Ray
    tasks when ``ray`` is given (:func:`sweep`); every other attribute is the oracle's."""

    def __init__(self, settings: OracleSettings | None = None, *, ray: str | None = None, block: int = BLOCK):
        self._oracle = Oracle(settings or OracleSettings())
        self.ray, self.block = ray, block

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_oracle":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._oracle, name)

    def evaluate_many(self, nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
        return sweep(nets, net_index, hw, ray=self.ray, block=self.block, oracle=self._oracle)

    def evaluate(self, net: Any, hw: pd.DataFrame) -> pd.DataFrame:
        return self.evaluate_many([net], np.zeros(len(hw), dtype=np.int64), hw)
