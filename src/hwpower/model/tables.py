"""Per-network, per-block, per-layer and per-operator tables built from networks (block sequences or
operator graphs).

The processed dataset already holds these tables; this builds the same columns (docs/data-format.md)
for networks that arrive at prediction time as a nets file, so the predictor encodes both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ..networks import GraphNetwork, Network
from ..processing.features import feature_tables
from ..processing.netread import NetworkSet


@dataclass
class NetworkTables:
    """The network tables of a processed dataset, keyed by ``network``."""

    networks: pd.DataFrame
    blocks: pd.DataFrame
    layers: pd.DataFrame
    ops: pd.DataFrame

    @classmethod
    def of(cls, obj) -> NetworkTables:
        """Take the tables of a :class:`~hwpower.processing.ProcessedDataset` (or anything alike)."""
        return cls(obj.networks, obj.blocks, obj.layers, obj.ops)

    @classmethod
    def from_networks(cls, nets: Mapping[str, Network | GraphNetwork], *, source_file: str = "") -> NetworkTables:
        return cls(*feature_tables(_network_set(nets, source_file)))


def network_tables(nets: Mapping[str, Network | GraphNetwork], *, source_file: str = "") -> tuple[pd.DataFrame, ...]:
    """Build (networks, blocks, layers) DataFrames with exactly the processed dataset's columns,
    through ``hwpower process``'s own feature code (so prediction-time features match training);
    :meth:`NetworkTables.from_networks` also builds the operators table."""
    return feature_tables(_network_set(nets, source_file))[:3]


def _network_set(nets: Mapping[str, Network | GraphNetwork], source_file: str) -> NetworkSet:
    ns = NetworkSet()
    for i, (key, net) in enumerate(nets.items()):
        tail = str(key).rsplit("/", 1)[-1]
        ns.keys.append(str(key))
        ns.networks.append(net)
        ns.source_files.append(source_file)
        ns.net_ids.append(int(tail) if tail.isdigit() else i)
        blocks = () if isinstance(net, GraphNetwork) else net.blocks
        ns.block_ids.append([ns.distinct.setdefault(b, len(ns.distinct)) for b in blocks])
    return ns
