"""Per-network, per-block and per-layer tables built from :class:`~hwpower.networks.Network` objects.

The processed dataset already holds these tables; this builds the same columns (docs/data-format.md)
for networks that arrive at prediction time as a nets file, so the predictor encodes both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ..networks import Network
from ..processing.features import feature_tables
from ..processing.netread import NetworkSet


@dataclass
class NetworkTables:
    """The three network tables of a processed dataset, keyed by ``network``."""

    networks: pd.DataFrame
    blocks: pd.DataFrame
    layers: pd.DataFrame

    @classmethod
    def of(cls, obj) -> NetworkTables:
        """Take the tables of a :class:`~hwpower.processing.ProcessedDataset` (or anything alike)."""
        return cls(obj.networks, obj.blocks, obj.layers)

    @classmethod
    def from_networks(cls, nets: Mapping[str, Network], *, source_file: str = "") -> NetworkTables:
        return cls(*network_tables(nets, source_file=source_file))


def network_tables(nets: Mapping[str, Network], *, source_file: str = "") -> tuple[pd.DataFrame, ...]:
    """Build (networks, blocks, layers) DataFrames with exactly the processed dataset's columns,
    through ``hwpower process``'s own feature code (so prediction-time features match training)."""
    ns = NetworkSet()
    for i, (key, net) in enumerate(nets.items()):
        tail = str(key).rsplit("/", 1)[-1]
        ns.keys.append(str(key))
        ns.networks.append(net)
        ns.source_files.append(source_file)
        ns.net_ids.append(int(tail) if tail.isdigit() else i)
        ns.block_ids.append([ns.distinct.setdefault(b, len(ns.distinct)) for b in net.blocks])
    return feature_tables(ns)
