"""Operator features: every network, block sequence or operator graph, as its operators.

A block network's operators are those :func:`hwpower.networks.expand.expand_network` makes; since
networks of one search space share a few hundred distinct blocks, each distinct block is expanded
once (in isolation: an operator's features depend on its shapes and attributes, not on which tensor
it reads) and its operators' feature rows are reused. A graph network's operators are keyed by
(kind, shapes, attributes), so a distinct operator's features are computed once too. Distinct
operators are stored once (``unique_ops``), each network as its sequence of operator numbers
(``network_ops``); :func:`ops_table` expands them.

Features per operator: the :class:`~hwpower.networks.layers.LayerTable` columns (counts and the
oracle's loop nest) and the kind attributes that change the cost: ``kernel``, ``stride`` and
``dilation`` (the larger side; 0 where the kind has none), ``fn`` (function of an element-wise,
norm, pool, upsample or move operator), ``act`` (fused activation) and ``norm`` (fused batch norm)
as words ("" where the kind has no such attribute).

:func:`needs_table` gives, per operator occurrence (they depend on the whole network, not on the
operator alone), the words oracle 2.0's fused schedule needs to keep its tensors on chip
(oracle/schedule.py, ``SchedulePlan.need``): ``need_out_words`` for its output, and for its streamed
inputs the lowest and highest need with the share of the input words at the lowest
(``need_in_lo_words``, ``need_in_hi_words``, ``in_lo_frac``). A tensor stays on chip when its need
fits the buffer's activation share, so these give the DRAM traffic of each hardware configuration
exactly for one or two inputs. Graph inputs and outputs never stay on chip: their need is ``inf``
(a physical "no buffer is large enough", only compared with the buffer, never standardised as a
number). They are computed when a model asks (a schedule plan costs milliseconds per network, more
than all other processing of a network), not stored by ``hwpower process``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..networks import GraphNetwork
from ..networks.expand import INPUT, Expander, expand_network, image_shape
from ..networks.layers import Layer, LayerOp, LayerTable
from ..networks.ops import KIND_NAMES, Op

OP_COUNT_NAMES = list(LayerTable.columns()[1:])  # macs ... o_words
OP_SHAPE_ATTRS = ["kernel", "stride", "dilation"]
OP_WORD_ATTRS = ["fn", "act", "norm"]
KIND_ORDER = list(LayerOp)  # codes are LayerOp values: stable, appended only
OP_FEATURES = [*OP_COUNT_NAMES, *OP_SHAPE_ATTRS]
NEED_COLUMNS = ["need_in_lo_words", "need_in_hi_words", "in_lo_frac", "need_out_words"]


def residency_needs(net: Any) -> np.ndarray:
    """(L, 4) float64, one row per operator of ``net`` (block network or graph) in execution order:
    the :data:`NEED_COLUMNS` of the fused schedule's plan (see the module docstring)."""
    from ..oracle.schedule import plan  # the oracle's own plan: features match its residency exactly

    p = plan(net if isinstance(net, GraphNetwork) else expand_network(net))
    need = np.append(p.need, np.inf)  # the plan's padding index (no input) is never on chip
    n_in = need[p.in_idx]  # (L, K)
    used = p.in_wgt > 0
    lo = np.where(used, n_in, np.inf).min(axis=1)
    hi = np.where(used, n_in, -np.inf).max(axis=1)
    lo_frac = np.where(used & (n_in <= lo[:, None]), p.in_wgt, 0.0).sum(axis=1)
    return np.stack([lo, hi, lo_frac, need[p.out_idx]], axis=1)


def needs_table(networks: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """network, op_index and the :data:`NEED_COLUMNS` of the networks ``keys``, from their
    ``definition`` (JSON) in a networks table (as a processed dataset or NetworkTables holds it)."""
    import json

    from ..networks.jsonio import network_from_dict

    rows = networks[networks["network"].astype(str).isin(keys)]
    frames = []
    for key, text in zip(rows["network"].astype(str), rows["definition"]):
        got = residency_needs(network_from_dict(json.loads(text)))
        frames.append(pd.DataFrame({"network": key, "op_index": np.arange(len(got)),
                                    **{name: got[:, k] for k, name in enumerate(NEED_COLUMNS)}}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["network", "op_index", *NEED_COLUMNS])


def op_row(op: Op) -> tuple[Any, ...]:
    """(kind code, counts and geometry, kernel, stride, dilation, fn, act, norm) of one operator."""
    attrs = op.attr_dict
    sides = [max(attrs[a]) if a in attrs else 0 for a in OP_SHAPE_ATTRS]
    words = [str(attrs[a]) if a in attrs else "" for a in OP_WORD_ATTRS]
    return (*LayerTable.row(op), *sides, *words)


class _BlockExpander(Expander):
    """Expands one block in isolation: an element-wise join with an earlier block's output reads a
    stand-in tensor of the same shape (the features see only the shape)."""

    def second_input(self, layer: Layer, block_in: str, branch: str | None, se_input: str | None) -> str | None:
        if layer.joins == "earlier":
            name = f"{layer.name}.earlier"
            self.shapes[name] = image_shape(layer.out_channels, layer.out_size)
            return name
        return super().second_input(layer, block_in, branch, se_input)


def block_ops(block: Any, flat_input: bool) -> list[Op]:
    """The operators of one block, as :func:`expand_network` makes them inside a network whose
    running tensor at the block's start is flat (``flat_input``, after a linear layer) or an image."""
    channels, size = block.in_shape
    walker = _BlockExpander(size)
    walker.shapes[INPUT] = (1, channels) if flat_input else image_shape(channels, size)
    walker.block(0, block)
    return walker.ops


@dataclass
class OpRows:
    """Distinct operators (feature rows, numbered in first-seen order) and per network their numbers."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    ids: dict[tuple[Any, ...], int] = field(default_factory=dict)
    per_network: list[np.ndarray] = field(default_factory=list)
    _blocks: dict[tuple[Any, bool], tuple[list[int], bool]] = field(default_factory=dict)
    _graph_ops: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def _number(self, row: tuple[Any, ...]) -> int:
        n = self.ids.get(row)
        if n is None:
            n = self.ids[row] = len(self.rows)
            self.rows.append(row)
        return n

    def add_blocks(self, blocks: tuple[Any, ...], block_ids: list[int] | None = None) -> None:
        """A block network's operators; ``block_ids`` (numbers of its distinct blocks, as
        :class:`~.netread.NetworkSet` keeps them) make the cache look-ups cheap."""
        flat, out = False, []
        keys = blocks if block_ids is None else block_ids
        for block, key in zip(blocks, keys):
            got = self._blocks.get((key, flat))
            if got is None:
                ops = block_ops(block, flat)
                got = self._blocks[(key, flat)] = ([self._number(op_row(o)) for o in ops],
                                                   len(ops[-1].out_shape) == 2)
            out += got[0]
            flat = got[1]
        self.per_network.append(np.asarray(out, dtype=np.int32))

    def add_graph(self, ops: tuple[Op, ...]) -> None:
        out = []
        for op in ops:
            key = (op.kind, op.in_shapes, op.out_shape, op.attrs)
            n = self._graph_ops.get(key)
            if n is None:
                n = self._graph_ops[key] = self._number(op_row(op))
            out.append(n)
        self.per_network.append(np.asarray(out, dtype=np.int32))

    def unique_table(self) -> pd.DataFrame:
        """op_id, kind_code, the counts and geometry, kernel/stride/dilation, fn/act/norm words."""
        names = ["kind_code", *OP_FEATURES, *OP_WORD_ATTRS]
        cols: dict[str, Any] = {"op_id": np.arange(len(self.rows), dtype=np.int32)}
        columns = list(zip(*self.rows)) if self.rows else [()] * len(names)
        for name, values in zip(names, columns, strict=True):
            cols[name] = (pd.array(list(values), dtype="str") if name in OP_WORD_ATTRS
                          else np.asarray(values, dtype=np.int64))
        return pd.DataFrame(cols)


def network_op_sequences(per_network: list[np.ndarray], keys: pd.CategoricalDtype) -> pd.DataFrame:
    """network, op_index, op_id: each network's operators in execution order."""
    n_ops = np.fromiter((len(x) for x in per_network), dtype=np.int64, count=len(per_network))
    occ = np.concatenate(per_network) if per_network else np.empty(0, np.int32)
    net = np.repeat(np.arange(len(per_network), dtype=np.int32), n_ops)
    starts = np.repeat(np.cumsum(n_ops) - n_ops, n_ops)
    return pd.DataFrame({"network": pd.Categorical.from_codes(net, dtype=keys),
                         "op_index": np.arange(len(occ)) - starts, "op_id": occ.astype(np.int32)}, copy=False)


def ops_table(network_ops: pd.DataFrame, unique_ops: pd.DataFrame) -> pd.DataFrame:
    """One row per operator occurrence: network, op_index, kind (categorical), the features."""
    occ = network_ops["op_id"].to_numpy()
    codes = unique_ops["kind_code"].to_numpy()[occ]
    cols: dict[str, Any] = {"network": network_ops["network"], "op_index": network_ops["op_index"].to_numpy(np.int64),
                            "kind": pd.Categorical.from_codes(codes, categories=[KIND_NAMES[k] for k in KIND_ORDER])}
    for name in [*OP_FEATURES, *OP_WORD_ATTRS]:
        values = unique_ops[name].to_numpy()[occ]
        cols[name] = pd.array(values, dtype="str") if name in OP_WORD_ATTRS else values
    return pd.DataFrame(cols, copy=False)


def op_feature_definitions() -> dict[str, Any]:
    return {"columns": ["network", "op_index", "kind", *OP_FEATURES, *OP_WORD_ATTRS],
            "kind_code": {KIND_NAMES[k]: int(k) for k in KIND_ORDER},
            "geometry": "groups, red, kout, pos, w_words, i_words, o_words: the oracle's loop nest (OpGeometry)",
            "kernel, stride, dilation": "the larger side; 0 where the operator kind has none",
            "fn, act, norm": "the operator's function, fused activation and fused norm; '' where the kind has none"}
