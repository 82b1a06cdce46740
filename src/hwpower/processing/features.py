"""Networks once each (the seed's step 3): read ``nets_*.json`` and compute per-network, per-block and
per-layer features with the counting code of :mod:`hwpower.networks`.

Networks from one search space share a few hundred distinct blocks, so layers and counts are computed
once per distinct block (blocks are frozen, hashable dataclasses) and gathered with numpy; per-block
columns come generically from ``in_shape``/``out_shape``, the block's layers and its dataclass fields.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..networks import BLOCK_TYPES, Block, Counts, Layer, LayerOp, Network, block_from_dict, parse_networks
from ..networks.network import INPUT_CHANNELS

COUNT_NAMES = [f.name for f in dataclasses.fields(Counts)]
LAYER_COUNT_NAMES = [n for n in COUNT_NAMES if isinstance(getattr(Layer, n, None), property)]
LAYER_FIELD_NAMES = [f.name for f in dataclasses.fields(Layer) if f.name != "name"]
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


@dataclass
class NetworkSet:
    """All networks of a raw folder, keyed ``STEM/ID``, in file then id order."""

    keys: list[str] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)
    net_ids: list[int] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    distinct: dict[Block, int] = field(default_factory=dict)  # each distinct block -> its number
    block_ids: list[list[int]] = field(default_factory=list)  # per network, the numbers of its blocks
    _index: dict[str, int] = field(default_factory=dict)
    _by_id: dict[int, int] = field(default_factory=dict)

    def add_file(self, path: Path) -> None:
        nets, ids, digest = read_nets_fast(path, self.distinct)
        self.hashes[path.name] = digest
        for (net_id, net), block_ids in zip(nets.items(), ids):
            self.add_network(f"{path.stem}/{net_id}", net, source_file=path.name, net_id=net_id, block_ids=block_ids)

    def add_network(self, key: str, net: Network, *, source_file: str = "", net_id: int = 0,
                    block_ids: list[int] | None = None) -> None:
        """Add one network (e.g. networks not read from a file, for features at prediction time)."""
        if key in self._index:
            raise InputError(f"network key {key!r} added twice", file=source_file or None)
        if block_ids is None:
            block_ids = [self.distinct.setdefault(b, len(self.distinct)) for b in net.blocks]
        self._index[key] = len(self.keys)
        self.keys.append(key)
        self.networks.append(net)
        self.source_files.append(source_file)
        self.net_ids.append(net_id)
        self.block_ids.append(block_ids)

    def resolve(self, stem: str | None, net_id: int) -> int:
        """Index of the network ``stem/net_id`` (or of id ``net_id`` when the raw column has no stem)."""
        if stem is not None:
            return self._index.get(f"{stem}/{net_id}", -1)
        if not self._by_id:
            self._build_id_index()
        return self._by_id.get(net_id, -1)

    def _build_id_index(self) -> None:
        """Ids alone name networks across files only if a repeated id means the same network."""
        for i, (net_id, net) in enumerate(zip(self.net_ids, self.networks)):
            j = self._by_id.setdefault(net_id, i)
            if j != i and (net.blocks, net.input_resolution) != (self.networks[j].blocks, self.networks[j].input_resolution):
                raise InputError(f"duplicate network key {net_id}: {self.keys[j]} and {self.keys[i]} differ, so the "
                                 "samples' network id is ambiguous", file=self.source_files[i], where=f"network {net_id}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large JSON tree is built: the tree has no cycles, yet its
    million objects trigger full collections that find nothing (17 MB of networks: 2 of a run's 3
    full collections, each a pass over every live object)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_nets_fast(path: Path, distinct: dict[Block, int] | None = None) -> tuple[dict[int, Network], list[list[int]], str]:
    """Read a nets file, building each distinct block once; returns the networks, per network the
    numbers of its blocks in ``distinct`` (extended in place) and the file's sha256. Anything unusual
    goes to :func:`hwpower.networks.parse_networks`, which reports the problem with file, id and block."""
    distinct = {} if distinct is None else distinct
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 (byte 0x{raw[exc.start]:02x})", file=str(path), where=f"line {line}") from None
    before = len(distinct)
    try:
        with _gc_paused():
            return *_parse_cached(json.loads(text, object_pairs_hook=_no_duplicates), distinct), digest
    except (ValueError, TypeError, KeyError, AttributeError):
        for block in list(distinct)[before:]:  # forget what the failed attempt added
            del distinct[block]
        nets = parse_networks(text, file=str(path))  # raises the precise error
        ids = [[distinct.setdefault(b, len(distinct)) for b in net.blocks] for net in nets.values()]
        return nets, ids, digest


def _parse_cached(data: Any, distinct: dict[Block, int]) -> tuple[dict[int, Network], list[list[int]]]:
    if not isinstance(data, dict) or not data:
        raise ValueError("not a non-empty object")
    cache: dict[tuple, tuple[Block, int]] = {}
    nets, all_ids = {}, []
    for key, value in data.items():
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0") or not isinstance(value, dict):
            raise ValueError("unusual id or network")
        if set(value) - {"blocks", "input_resolution", "name"} or not isinstance(value.get("blocks"), list) \
                or not value["blocks"] or not isinstance(value.get("name", ""), str):
            raise ValueError("unusual network fields")
        blocks, ids = [], []
        for raw in value["blocks"]:
            item = tuple(raw.items())
            hit = cache.get(item)
            if hit is None:
                block = block_from_dict(raw)
                hit = cache[item] = (block, distinct.setdefault(block, len(distinct)), block.in_shape, block.out_shape)
            blocks.append(hit)
            ids.append(hit[1])
        nets[int(key)] = _chain(blocks, value.get("input_resolution", blocks[0][2][1]), value.get("name"))
        all_ids.append(ids)
    return nets, all_ids


def _chain(blocks: list[tuple[Block, int, tuple, tuple]], resolution: Any, name: str | None) -> Network:
    """``Network.build``'s checks with each distinct block's shapes computed once (``ValueError`` on any
    problem: the checking parser then names it)."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError("bad input_resolution")
    shape = (INPUT_CHANNELS, resolution)
    for block, _, in_shape, out_shape in blocks:
        if shape != in_shape and not block.accepts(shape):
            raise ValueError("shape mismatch")
        shape = out_shape
    return Network(tuple(b[0] for b in blocks), resolution, name)


def _field_value(block: Block, name: str, spec: Any) -> float:
    if not hasattr(block, name):
        return 0  # the field does not apply to this block type
    value = getattr(block, name)
    if value is None:
        return -1  # left at its default, derived from other fields (e.g. padding = kernel // 2)
    if isinstance(spec, tuple):
        return spec.index(value) + 1  # 0 means "not applicable"
    return float(value) if spec == "posf" else int(value)


@dataclass
class _BlockRows:
    """Feature rows of distinct blocks and their layers, computed once per distinct block."""

    rows: list[list[float]] = field(default_factory=list)
    jsons: list[str] = field(default_factory=list)
    layer_rows: list[list[int]] = field(default_factory=list)
    layer_start: list[int] = field(default_factory=list)
    layer_count: list[int] = field(default_factory=list)

    def add(self, block: Block) -> None:
        layers = block.layers()
        counts = Counts.of(layers)
        self.rows.append([TYPE_NAMES.index(block.type_name) + 1, *block.in_shape, *block.out_shape,
                          *(getattr(counts, n) for n in COUNT_NAMES),
                          *(_field_value(block, n, s) for n, s in BLOCK_FIELD_SPECS.items())])
        self.jsons.append(json.dumps(block.to_dict()))
        self.layer_start.append(len(self.layer_rows))
        self.layer_count.append(len(layers))
        self.layer_rows += [[int(getattr(x, n)) for n in LAYER_FIELD_NAMES + LAYER_COUNT_NAMES] for x in layers]


def _within(counts: np.ndarray) -> np.ndarray:
    """0..n-1 within each group of a flat array made of groups of sizes ``counts``."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _gather(distinct: pd.DataFrame, index: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``index`` of a small table, column by column (much faster than a 2-D take into pandas)."""
    return {name: distinct[name].to_numpy()[index] for name in distinct.columns}


def feature_tables(nets: NetworkSet) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(networks, blocks, layers) feature tables, all numeric except keys, names and definitions."""
    rows = _BlockRows()
    for block in nets.distinct:  # numbered in insertion order
        rows.add(block)
    per_net = nets.block_ids
    occ = np.fromiter((j for ids in per_net for j in ids), dtype=np.int64)
    n_blocks = np.fromiter((len(ids) for ids in per_net), dtype=np.int64, count=len(per_net))
    net_of_block = np.repeat(np.arange(len(per_net)), n_blocks)
    key_type = pd.CategoricalDtype(pd.Index(nets.keys, dtype="str"))
    umat = pd.DataFrame(rows.rows, columns=["type_code", *SHAPE_NAMES, *COUNT_NAMES, *BLOCK_FIELD_SPECS])
    blocks = pd.DataFrame({
        "network": pd.Categorical.from_codes(net_of_block, dtype=key_type),
        "block_index": _within(n_blocks),
        "type": pd.Categorical.from_codes(umat["type_code"].to_numpy()[occ] - 1, categories=TYPE_NAMES),
        **_gather(umat, occ),
    }, copy=False)  # fresh columns: no 2-D consolidation copy (0.08 s for the layers of 5,000 networks)

    starts, counts = np.asarray(rows.layer_start), np.asarray(rows.layer_count)
    per_occ = counts[occ]
    layer_idx = np.repeat(starts[occ], per_occ) + _within(per_occ)
    n_layers = np.bincount(net_of_block, weights=per_occ, minlength=len(per_net)).astype(np.int64)
    layers = pd.DataFrame({
        "network": pd.Categorical.from_codes(np.repeat(np.arange(len(per_net)), n_layers), dtype=key_type),
        "layer_index": _within(n_layers),
        "block_index": np.repeat(blocks["block_index"].to_numpy(), per_occ),
        **_gather(pd.DataFrame(rows.layer_rows, columns=LAYER_FIELD_NAMES + LAYER_COUNT_NAMES, dtype=np.int64),
                  layer_idx),
    }, copy=False)

    networks = pd.DataFrame({
        "network": pd.Categorical.from_codes(np.arange(len(per_net)), dtype=key_type),
        "source_file": pd.array(nets.source_files, dtype="str"),
        "net_id": np.asarray(nets.net_ids, dtype=np.int64),
        "input_resolution": np.fromiter((n.input_resolution for n in nets.networks), dtype=np.int64),
        "n_blocks": n_blocks,
    })
    block_counts = umat[COUNT_NAMES].to_numpy()[occ]
    for k, name in enumerate(COUNT_NAMES):  # every count is additive over blocks
        networks[name] = np.bincount(net_of_block, weights=block_counts[:, k], minlength=len(per_net)).astype(np.int64)
    networks["definition"] = pd.array([_definition(net, ids, rows.jsons) for net, ids in zip(nets.networks, per_net)],
                                      dtype="str")
    return networks, blocks, layers


def _definition(net: Network, block_ids: list[int], block_jsons: list[str]) -> str:
    """The network's canonical JSON, assembled from each distinct block's JSON computed once."""
    head = {"input_resolution": net.input_resolution, **({"name": net.name} if net.name is not None else {})}
    blocks = ", ".join([block_jsons[j] for j in block_ids])
    return json.dumps(head)[:-1] + f', "blocks": [{blocks}]}}'


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
                   else f"block field ({s}); 0 where the block type lacks it, -1 where left at its derived default")
               for n, s in BLOCK_FIELD_SPECS.items()}
    return {
        "counts": counts,
        "networks": ["network", "source_file", "net_id", "input_resolution", "n_blocks", *COUNT_NAMES, "definition"],
        "blocks": {"columns": ["network", "block_index", "type", "type_code", *SHAPE_NAMES, *COUNT_NAMES,
                               *BLOCK_FIELD_SPECS],
                   "type_code": {t: i + 1 for i, t in enumerate(TYPE_NAMES)}, "fields": fields_,
                   "shapes": "in/out channels and size from the block's in_shape/out_shape"},
        "layers": {"columns": ["network", "layer_index", "block_index", *LAYER_FIELD_NAMES, *LAYER_COUNT_NAMES],
                   "op": {op.name.lower(): int(op) for op in LayerOp}},
    }
