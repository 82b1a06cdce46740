"""Networks once each (the seed's step 3): read ``nets_*.json`` and compute per-network, per-block,
per-layer and per-operator features with the counting code of :mod:`hwpower.networks`.

Every network is stored as operators (:mod:`.opfeatures`); block networks also as blocks and layers
(graph networks have none).

Networks from one search space share a few hundred distinct blocks, so layers and counts are computed
once per distinct block (blocks are frozen, hashable dataclasses) and gathered with numpy; per-block
columns come generically from ``in_shape``/``out_shape``, the block's layers and its dataclass fields.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..networks import BLOCK_TYPES, Block, Counts, GraphNetwork, Layer, LayerOp, Network
from .netread import NetworkSet
from .opfeatures import OpRows, network_op_sequences, op_feature_definitions, ops_table

COUNT_NAMES = [f.name for f in dataclasses.fields(Counts)]
LAYER_COUNT_NAMES = [n for n in COUNT_NAMES if isinstance(getattr(Layer, n, None), property)]
# "joins" only wires the operator graph (networks/expand.py); it is not a feature of a layer.
LAYER_FIELD_NAMES = [f.name for f in dataclasses.fields(Layer) if f.name not in ("name", "joins")]
SHAPE_NAMES = ["in_channels", "in_size", "out_channels", "out_size"]
TYPE_NAMES = list(BLOCK_TYPES)  # registration order: a new block type appends, earlier codes stay


def _block_field_specs() -> dict[str, Any]:
    """Union of the numeric, boolean and enumerated fields of every registered block type."""
    specs: dict[str, Any] = {}
    for cls in BLOCK_TYPES.values():
        for f in dataclasses.fields(cls):
            if f.name in SHAPE_NAMES or f.name in COUNT_NAMES:
                continue  # the shape and count columns already say it
            schema = f.metadata.get("schema")
            if isinstance(schema, tuple):
                prev = specs.get(f.name, ())
                specs[f.name] = prev + tuple(v for v in schema if v not in prev)
            elif f.name not in specs:
                specs[f.name] = schema
    return specs


BLOCK_FIELD_SPECS = _block_field_specs()


def _field_values(block: Block, name: str, spec: Any) -> tuple[float, int]:
    """(value, given): a field that does not apply to the block type, or is left at its default
    derived from other fields (e.g. ``mid_channels`` from the expansion), is (0, 0): never a number
    that means "missing"; the ``NAME_given`` indicator column says which."""
    value = getattr(block, name, None)
    if value is None:
        return 0, 0
    if isinstance(spec, tuple):
        return spec.index(value) + 1, 1  # codes from 1; 0 means "not applicable"
    return (float(value) if spec == "posf" else int(value)), 1


def _field_row(block: Block) -> list[float]:
    pairs = [_field_values(block, n, s) for n, s in BLOCK_FIELD_SPECS.items()]
    return [v for v, _ in pairs] + [g for _, g in pairs]


GIVEN_NAMES = [f"{n}_given" for n in BLOCK_FIELD_SPECS]


@dataclass
class _BlockRows:
    """Feature rows of distinct blocks and their layers, computed once per distinct block."""

    rows: list[list[float]] = field(default_factory=list)
    jsons: list[str] = field(default_factory=list)
    layer_rows: list[list[int]] = field(default_factory=list)
    layer_count: list[int] = field(default_factory=list)

    def add(self, block: Block) -> None:
        layers = block.layers()
        counts = Counts.of(layers)
        self.rows.append([TYPE_NAMES.index(block.type_name) + 1, *block.in_shape, *block.out_shape,
                          *(getattr(counts, n) for n in COUNT_NAMES),
                          *_field_row(block)])
        self.jsons.append(json.dumps(block.to_dict()))
        self.layer_count.append(len(layers))
        self.layer_rows += [[int(getattr(x, n)) for n in LAYER_FIELD_NAMES + LAYER_COUNT_NAMES] for x in layers]


def _within(counts: np.ndarray) -> np.ndarray:
    """0..n-1 within each group of a flat array made of groups of sizes ``counts``."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _gather(distinct: pd.DataFrame, index: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``index`` of a small table, column by column (much faster than a 2-D take into pandas)."""
    return {name: distinct[name].to_numpy()[index] for name in distinct.columns}


@dataclass
class NetworkParts:
    """The networks as stored on disk: each distinct block, layer and operator once, each network as
    its sequences of block and operator numbers (5,000 OFA networks: 110,000 block occurrences of 450
    distinct blocks). Graph networks have operators only, and their definition in ``graph``."""

    networks: pd.DataFrame  # network, source_file, net_id, input_resolution, name, graph, n_blocks, n_ops, counts
    network_blocks: pd.DataFrame  # network, block_index, block_id
    unique_blocks: pd.DataFrame  # block_id, type_code, shapes, counts, fields, definition (JSON)
    unique_layers: pd.DataFrame  # block_id, layer fields and counts, in block order
    network_ops: pd.DataFrame  # network, op_index, op_id
    unique_ops: pd.DataFrame  # op_id, kind_code, counts, geometry, kernel/stride/dilation, fn/act/norm


def network_parts(nets: NetworkSet) -> NetworkParts:
    """Features of every distinct block, layer and operator (counting code once per distinct one)."""
    rows = _BlockRows()
    for block in nets.distinct:  # numbered in insertion order
        rows.add(block)
    ops = OpRows()  # block keys: the NetworkSet's block numbers (hashing a block is costlier)
    for net, ids in zip(nets.networks, nets.block_ids):
        if isinstance(net, GraphNetwork):
            ops.add_graph(net.ops)
        else:
            ops.add_blocks(net.blocks, ids)
    per_net = nets.block_ids
    occ = np.fromiter((j for ids in per_net for j in ids), dtype=np.int32)
    n_blocks = np.fromiter((len(ids) for ids in per_net), dtype=np.int64, count=len(per_net))
    net_of_block = np.repeat(np.arange(len(per_net), dtype=np.int32), n_blocks)
    key_type = pd.CategoricalDtype(pd.Index(nets.keys, dtype="str"))
    unique = pd.DataFrame(rows.rows, columns=["type_code", *SHAPE_NAMES, *COUNT_NAMES, *BLOCK_FIELD_SPECS, *GIVEN_NAMES])
    unique.insert(0, "block_id", np.arange(len(unique), dtype=np.int32))
    unique["definition"] = pd.array(rows.jsons, dtype="str")
    layers = pd.DataFrame(rows.layer_rows, columns=LAYER_FIELD_NAMES + LAYER_COUNT_NAMES, dtype=np.int64)
    layers.insert(0, "block_id", np.repeat(np.arange(len(unique), dtype=np.int32), rows.layer_count))
    graphs = [json.dumps(n.to_dict()) if isinstance(n, GraphNetwork) else None for n in nets.networks]
    networks = pd.DataFrame({
        "network": pd.Categorical.from_codes(np.arange(len(per_net)), dtype=key_type),
        "source_file": pd.array(nets.source_files, dtype="str"),
        "net_id": np.asarray(nets.net_ids, dtype=np.int64),
        "input_resolution": np.fromiter((n.input_resolution for n in nets.networks), dtype=np.int64),
        "name": pd.array([n.name for n in nets.networks], dtype="str"),
        "graph": pd.array(graphs, dtype="str"),
        "n_blocks": n_blocks,
        "n_ops": np.fromiter((len(x) for x in ops.per_network), dtype=np.int64, count=len(per_net)),
    })
    block_counts = unique[COUNT_NAMES].to_numpy()[occ]
    for k, name in enumerate(COUNT_NAMES):  # every count is additive over blocks
        networks[name] = np.bincount(net_of_block, weights=block_counts[:, k], minlength=len(per_net)).astype(np.int64)
    _graph_counts(networks, nets.networks)
    network_blocks = pd.DataFrame({"network": pd.Categorical.from_codes(net_of_block, dtype=key_type),
                                   "block_index": _within(n_blocks), "block_id": occ}, copy=False)
    return NetworkParts(networks, network_blocks, unique, layers, network_op_sequences(ops.per_network, key_type),
                        ops.unique_table())


def _graph_counts(networks: pd.DataFrame, nets: list[Network | GraphNetwork]) -> None:
    """Graph networks have no blocks: their counts come from their operators."""
    for i, net in enumerate(nets):
        if isinstance(net, GraphNetwork):
            counts = net.counts
            for name in COUNT_NAMES:
                networks.loc[i, name] = getattr(counts, name)


def expand(parts: NetworkParts) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(networks, blocks, layers, ops): one row per network, block, layer and operator occurrence,
    numeric except keys, definitions and operator words (the in-memory tables of :class:`ProcessedDataset`)."""
    nb, unique = parts.network_blocks, parts.unique_blocks.drop(columns=["block_id", "definition"])
    occ = nb["block_id"].to_numpy()
    blocks = pd.DataFrame({
        "network": nb["network"], "block_index": nb["block_index"].to_numpy(dtype=np.int64),
        "type": pd.Categorical.from_codes(unique["type_code"].to_numpy()[occ] - 1, categories=TYPE_NAMES),
        **_gather(unique, occ),
    }, copy=False)  # fresh columns: no 2-D consolidation copy (0.08 s for the layers of 5,000 networks)

    counts = np.bincount(parts.unique_layers["block_id"].to_numpy(), minlength=len(unique))
    starts = np.cumsum(counts) - counts
    per_occ = counts[occ]
    layer_idx = np.repeat(starts[occ], per_occ) + _within(per_occ)
    net_codes = nb["network"].cat.codes.to_numpy()
    n_layers = np.bincount(net_codes, weights=per_occ, minlength=len(parts.networks)).astype(np.int64)
    layers = pd.DataFrame({
        "network": pd.Categorical.from_codes(np.repeat(np.arange(len(parts.networks)), n_layers),
                                             dtype=nb["network"].dtype),
        "layer_index": _within(n_layers),
        "block_index": np.repeat(blocks["block_index"].to_numpy(), per_occ),
        **_gather(parts.unique_layers.drop(columns="block_id"), layer_idx),
    }, copy=False)

    networks = parts.networks.drop(columns=["name", "graph"])
    jsons = parts.unique_blocks["definition"].to_numpy()
    per_net = np.split(occ, np.cumsum(networks["n_blocks"].to_numpy())[:-1])
    graphs = parts.networks["graph"].tolist()
    networks["definition"] = pd.array(
        [g if isinstance(g, str) else _definition(r, n, jsons[ids])
         for r, n, ids, g in zip(networks["input_resolution"].tolist(), parts.networks["name"].tolist(), per_net, graphs)],
        dtype="str")
    return networks, blocks, layers, ops_table(parts.network_ops, parts.unique_ops)


def parts_from_tables(networks: pd.DataFrame, blocks: pd.DataFrame, layers: pd.DataFrame) -> NetworkParts:
    """The stored form of in-memory network tables (e.g. built by :func:`feature_tables` and then
    changed, or read from elsewhere): blocks are the same when their JSON definitions are; the
    operators are computed again from the definitions (they follow from them)."""
    key_type = networks["network"].dtype
    definitions = [json.loads(d) for d in networks["definition"]]
    texts = [json.dumps(b) for d in definitions for b in d.get("blocks", ())]
    ids: dict[str, int] = {}
    occ = np.fromiter((ids.setdefault(t, len(ids)) for t in texts), dtype=np.int32, count=len(texts))
    first = np.unique(occ, return_index=True)[1]  # first occurrence of each distinct block
    feature_cols = [c for c in blocks.columns if c not in ("network", "block_index", "type")]
    unique = blocks.iloc[first][feature_cols].reset_index(drop=True)
    unique.insert(0, "block_id", np.arange(len(unique), dtype=np.int32))
    unique["definition"] = pd.array(list(ids), dtype="str")
    where = pd.MultiIndex.from_arrays([blocks["network"].astype(str).to_numpy()[first], blocks["block_index"].to_numpy()[first]])
    layer_key = pd.MultiIndex.from_arrays([layers["network"].astype(str).to_numpy(), layers["block_index"].to_numpy()])
    pick = layer_key.isin(where)
    chosen = layers[pick].drop(columns=["network", "layer_index"])
    block_of = pd.Series(np.arange(len(first), dtype=np.int32), index=where)
    chosen.insert(0, "block_id", block_of.reindex(layer_key[pick]).to_numpy())
    chosen = chosen.drop(columns="block_index").sort_values("block_id", kind="stable").reset_index(drop=True)
    ops = ops_of_definitions(definitions)
    stored = networks.drop(columns=[c for c in ("definition", "n_ops") if c in networks.columns])
    at = stored.columns.get_loc("n_blocks")
    stored.insert(at, "name", pd.array([d.get("name") for d in definitions], dtype="str"))
    stored.insert(at + 1, "graph", pd.array([json.dumps(d) if "ops" in d else None for d in definitions], dtype="str"))
    stored.insert(at + 3, "n_ops", np.fromiter((len(x) for x in ops.per_network), dtype=np.int64, count=len(definitions)))
    network_blocks = pd.DataFrame({"network": pd.Categorical(blocks["network"], dtype=key_type),
                                   "block_index": blocks["block_index"].to_numpy(), "block_id": occ})
    return NetworkParts(stored, network_blocks, unique, chosen, network_op_sequences(ops.per_network, key_type),
                        ops.unique_table())


def ops_of_definitions(definitions: list[dict[str, Any]]) -> OpRows:
    """The operators of networks given as their JSON definitions (block sequences or graphs)."""
    from ..networks.jsonio import network_from_dict

    ops = OpRows()
    for d in definitions:
        net = network_from_dict(d)
        if isinstance(net, GraphNetwork):
            ops.add_graph(net.ops)
        else:
            ops.add_blocks(net.blocks)
    return ops


def ops_from_definitions(networks: pd.DataFrame) -> pd.DataFrame:
    """The operators table of in-memory network tables, from each network's ``definition``."""
    ops = ops_of_definitions([json.loads(d) for d in networks["definition"]])
    key_type = networks["network"].dtype
    if not isinstance(key_type, pd.CategoricalDtype):
        key_type = pd.CategoricalDtype(pd.Index(networks["network"].astype(str).tolist(), dtype="str"))
    return ops_table(network_op_sequences(ops.per_network, key_type), ops.unique_table())


def feature_tables(nets: NetworkSet) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(networks, blocks, layers, ops) feature tables of :func:`expand`."""
    return expand(network_parts(nets))


def _definition(resolution: int, name: str | None, block_jsons: np.ndarray) -> str:
    """The network's canonical JSON, assembled from each distinct block's JSON computed once."""
    head = {"input_resolution": resolution, **({"name": name} if isinstance(name, str) else {})}
    return json.dumps(head)[:-1] + f', "blocks": [{", ".join(block_jsons)}]}}'


def feature_definitions() -> dict[str, Any]:
    """What each feature column means, for the manifest."""
    counts = {
        "macs": "multiply-accumulates of convolution and fully connected layers",
        "flops": "2 x macs", "other_ops": "pooling and element-wise operations (not in macs)",
        "weights": "trainable parameters incl. bias and batch-norm scale/shift",
        "in_act": "input activation elements", "out_act": "output activation elements",
        "depth": "convolution and fully connected layers on the main path", "n_layers": "layers",
    }
    fields_ = {n: ({"codes": {v: i + 1 for i, v in enumerate(s)}, "0": "not applicable"} if isinstance(s, tuple)
                   else f"block field ({s}); 0 where the block type lacks it or leaves it at its derived default "
                        f"({n}_given = 0), never -1")
               for n, s in BLOCK_FIELD_SPECS.items()}
    return {
        "counts": counts,
        "networks": ["network", "source_file", "net_id", "input_resolution", "n_blocks", "n_ops", *COUNT_NAMES,
                     "definition"],
        "blocks": {"columns": ["network", "block_index", "type", "type_code", *SHAPE_NAMES, *COUNT_NAMES,
                               *BLOCK_FIELD_SPECS, *GIVEN_NAMES],
                   "type_code": {t: i + 1 for i, t in enumerate(TYPE_NAMES)}, "fields": fields_,
                   "shapes": "in/out channels and size from the block's in_shape/out_shape"},
        "layers": {"columns": ["network", "layer_index", "block_index", *LAYER_FIELD_NAMES, *LAYER_COUNT_NAMES],
                   "op": {op.name.lower(): int(op) for op in LayerOp}},
        "ops": op_feature_definitions(),
    }
