"""Inter-layer data reuse: which activations stay on chip between their producer and consumers.

``schedule="layer"`` is the classic layer-by-layer accounting: every operator reads its inputs from
DRAM and writes its output back. ``schedule="fused"`` keeps a tensor in the global buffer when it
fits, two ways (docs/oracle.md, "Schedule"):

- **whole tensor**: the tensor stays in the buffer from its production to its last consumption.
  It fits when the peak of *all* activations live at any step of its lifetime (residual and concat
  branches held for later consumers included) fits the activation share of the buffer.
- **depth-first (fused) tiles**, after DeFiNES (Mei et al., "DeFiNES: Enabling fast exploration of
  the depth-first scheduling space for DNN accelerators through analytical modeling", HPCA 2023)
  and Stream (Symons et al., "Stream: A modeling framework for fine-grained layer fusion on
  multi-core DNN accelerators", ISPASS 2023): a stack of operators processes the feature map a few
  rows at a time, so only a line buffer of each intermediate tensor is held: the rows its
  consumer's window needs (k rows for a k x k kernel), plus the rows a branch held for a later
  consumer lags behind (k - 1 per spatial operator in between). We model DeFiNES' "fully cached"
  mode (no recomputation: the halo is held, not recomputed), so the overhead is storage, paid in
  the fit condition. The weights of every operator of the stack stay resident (each row tile
  passes through all of them), so deep stacks with large weights do not fuse: fusion is taken
  only where it pays, i.e. where it removes DRAM traffic without re-fetching weights.

The buffer split (one documented rule): the per-layer model (cost.py) holds weight and input tiles
in half the buffer (``buf_words``); activations kept across operators get the other half. A tensor
stays on chip iff the words it needs (config-independent, precomputed per network) are at most
``glb_kib * 8192 / bits / 2``. Graph inputs come from DRAM and the network's outputs go to DRAM.
Operators that need their whole input before producing anything (linear, matmul, softmax, layer
and group norms, global pooling) hold whole tensors: their line buffer is the whole tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..networks.graph import GraphNetwork
from ..networks.layers import LayerOp
from ..networks.ops import Op, numel

SCHEDULES = ("layer", "fused")
ACTIVATION_SHARE = 0.5  # of the buffer; the per-layer model's tiles use the other half (cost.py)
# Kinds that process a feature map row by row with a window of 1 row (element-wise on the rows).
ROW_KINDS = (LayerOp.ELTWISE, LayerOp.MOVE, LayerOp.UPSAMPLE)
WINDOW_KINDS = (LayerOp.CONV, LayerOp.POOL)
WHOLE_MOVES = ("permute", "expand")  # reorder or broadcast across rows: need the whole tensor


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r} (known: {list(SCHEDULES)})", where="settings")


@dataclass(frozen=True)
class SchedulePlan:
    """Per-network, config-independent residency data over T tensors and L operators.

    ``need_full`` / ``need_tile``: words of the buffer's activation share a tensor needs to stay
    on chip whole / as depth-first tiles (``inf``: never on chip). ``in_idx`` (L, K) are the
    tensors each operator reads as its streamed input (``i_words``), padded with the sentinel index
    T (always off chip) and weighted by ``in_wgt`` (fractions of the input words, summing to 1);
    ``out_idx`` (L,) the tensor each operator writes.
    """

    names: tuple[str, ...]
    need_full: np.ndarray
    need_tile: np.ndarray
    in_idx: np.ndarray
    in_wgt: np.ndarray
    out_idx: np.ndarray

    @property
    def need(self) -> np.ndarray:
        """Words a tensor needs under the fused schedule: the cheaper of whole and tiled."""
        return np.minimum(self.need_full, self.need_tile)

    def off_chip(self, glb_kib: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """(N, T + 1) float: 1 where the tensor goes through DRAM (last column: the sentinel)."""
        share = np.asarray(glb_kib, dtype=np.float64).reshape(-1, 1) * (8192 * ACTIVATION_SHARE)
        share = share / np.asarray(bits, dtype=np.float64).reshape(-1, 1)
        off = np.ones((share.shape[0], len(self.names) + 1))
        off[:, :-1] = self.need[None, :] > share
        return off

    def residency(self, glb_kib: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, L) fractions of each operator's input and output words that go through DRAM."""
        off = self.off_chip(glb_kib, bits)  # every operator has an input column (the sentinel at least)
        return (off[:, self.in_idx] * self.in_wgt).sum(axis=2), off[:, self.out_idx]


def _source(op: Op, alias: dict[str, str]) -> list[str]:
    return [alias.get(x, x) for x in op.inputs]


def _is_view(op: Op) -> bool:
    return op.kind is LayerOp.MOVE and op.attr("fn") == "view"


def _span(op: Op) -> int:
    """Input rows one output row of a windowed operator reads (its dilated kernel height)."""
    dilation = op.attr("dilation")[0] if op.kind is LayerOp.CONV else 1
    return dilation * (int(op.attr("kernel")[0]) - 1) + 1


def _window_rows(op: Op, shape: tuple[int, ...]) -> int:
    """Rows of an input tensor the operator needs at once (its whole height if it needs it all)."""
    if len(shape) != 4:  # not a feature map: no rows to stream
        return 1
    if op.kind in WINDOW_KINDS:
        return min(_span(op), shape[2])
    row_wise = op.kind in ROW_KINDS and not (op.kind is LayerOp.MOVE and op.attr("fn") in WHOLE_MOVES)
    if row_wise or (op.kind is LayerOp.NORM and op.attr("fn") == "batch"):
        return 1
    return shape[2]


def _lag_rows(op: Op) -> int:
    """Rows a tensor held across this operator lags behind (its window's extra rows)."""
    if op.kind in WINDOW_KINDS and len(op.out_shape) == 4:
        return _span(op) - 1
    return 0


class _Tensors:
    """Tensor table of one graph: sizes, producer step, last use, consumers' window rows."""

    def __init__(self, net: GraphNetwork):
        ops = net.ops
        self.index: dict[str, int] = {}
        self.alias: dict[str, str] = {}
        self.shape: list[tuple[int, ...]] = []
        self.first: list[int] = []
        self.last: list[int] = []
        self.rows: list[int] = []
        self.pinned: list[bool] = []  # in DRAM whatever the buffer: graph inputs and outputs
        for name, shape in net.inputs:
            self._new(name, shape, 0, pinned=True)
        for j, op in enumerate(ops):
            srcs = _source(op, self.alias)
            if _is_view(op):  # a view moves nothing: its output is its input under another name
                self.alias[op.name] = srcs[0]
                continue
            for x in srcs:
                t = self.index[x]
                self.last[t] = max(self.last[t], j)
                self.rows[t] = max(self.rows[t], _window_rows(op, self.shape[t]))
            self._new(op.name, op.out_shape, j, pinned=False)
        for t in range(len(self.shape)):  # unconsumed tensors (the outputs) leave the chip
            if self.last[t] < 0:
                self.pinned[t], self.last[t] = True, len(ops) - 1
        self.words = np.array([numel(s) for s in self.shape], dtype=np.float64)
        self.lags = [_lag_rows(op) for op in ops]

    def _new(self, name: str, shape: tuple[int, ...], step: int, pinned: bool) -> None:
        self.index[name] = len(self.shape)
        self.shape.append(tuple(shape))
        self.first.append(step)
        self.last.append(-1)
        self.rows.append(1)
        self.pinned.append(pinned)

    def tile_words(self) -> np.ndarray:
        """Line-buffer words of each tensor: window rows plus the lag of a held branch."""
        lag = np.concatenate([[0], np.cumsum(self.lags)])
        out = self.words.copy()
        for t, s in enumerate(self.shape):
            if len(s) == 4:
                # ops strictly between producer and last consumer delay that consumer's rows
                held = lag[self.last[t]] - lag[self.first[t] + 1] if self.last[t] > self.first[t] + 1 else 0
                rows = min(self.rows[t] + held, s[2])
                out[t] = rows * s[0] * s[1] * s[3]
        return out


def _peaks(first: np.ndarray, last: np.ndarray, words: np.ndarray, n_steps: int) -> np.ndarray:
    """Per tensor, the peak over its lifetime of the words of every tensor live at the same step."""
    delta = np.zeros(n_steps + 1)
    np.add.at(delta, first, words)
    np.add.at(delta, last + 1, -words)
    live = np.cumsum(delta)[:n_steps]
    return np.array([live[a:b + 1].max() for a, b in zip(first, last, strict=True)])


def _stack_weights(first: np.ndarray, last: np.ndarray, w_words: np.ndarray) -> np.ndarray:
    """Per tensor, the weights of every operator from its producer to its last consumer."""
    cum = np.concatenate([[0.0], np.cumsum(w_words)])
    return cum[last + 1] - cum[first]


def plan(net: GraphNetwork) -> SchedulePlan:
    """The config-independent residency data of a graph network (see the module docstring)."""
    tt = _Tensors(net)
    first, last = np.array(tt.first), np.array(tt.last)
    n = len(net.ops)
    need_full = _peaks(first, last, tt.words, n)
    tile = tt.tile_words()
    w_words = np.array([float(op.geometry().w_words) for op in net.ops])
    need_tile = np.maximum(_peaks(first, last, tile, n), _stack_weights(first, last, w_words))
    pinned = np.array(tt.pinned)
    need_full[pinned] = np.inf
    need_tile[pinned] = np.inf
    in_idx, in_wgt, out_idx = _op_tensors(net, tt)
    return SchedulePlan(tuple(tt.index), need_full, need_tile, in_idx, in_wgt, out_idx)


def _op_tensors(net: GraphNetwork, tt: _Tensors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each operator's streamed inputs (weighted by their words) and its output tensor."""
    sentinel = len(tt.shape)
    rows_idx, rows_wgt, out_idx = [], [], []
    for op in net.ops:
        srcs = [tt.index[x] for x in _source(op, tt.alias)]
        if op.kind is LayerOp.MATMUL:  # B is the stationary operand (w_words): A alone streams
            srcs = srcs[:1]
        words = tt.words[srcs] if srcs else np.zeros(0)
        total = words.sum()
        rows_idx.append(srcs if total > 0 else [sentinel])
        rows_wgt.append(list(words / total) if total > 0 else [1.0])
        name = tt.alias.get(op.name, op.name)
        out_idx.append(tt.index[name])
    k = max(len(r) for r in rows_idx)
    idx = np.full((len(rows_idx), k), sentinel, dtype=np.int64)
    wgt = np.zeros((len(rows_idx), k))
    for j, (r, w) in enumerate(zip(rows_idx, rows_wgt, strict=True)):
        idx[j, :len(r)], wgt[j, :len(w)] = r, w
    return idx, wgt, np.array(out_idx, dtype=np.int64)
