"""The seed's "recover" layer, batched: learnable hardware parameters in the predictor's normalized
space, kept inside the data bounds by a sigmoid, fed with fixed network encodings into the frozen
predictor. Many starts run as one batch; categorical parameters are enumerated (each start carries
one combination); numeric ones are relaxed during descent, snapped to the grid periodically and at
the end, and the snapped points are polished by greedy grid-neighbour moves with the predictor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from .surrogate import SearchSurrogate, logit

log = logging.getLogger(__name__)

# loss(log_outputs (each (S, M)), start_id (S,)) -> (S,) per-start loss
LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DescentConfig:
    """Adam on the relaxed parameters, then snapping and a discrete polish."""

    steps: int = 100
    lr: float = 0.1
    snap_every: int = 25  # also snap (and keep) the points every this many steps
    polish_rounds: int = 10
    polish_keep: int = 16  # best distinct snapped points per query that go on to the polish
    screen: int = 256  # random grid points per query scored (no gradient) and added to the polish pool
    seed: int = 0
    threads: int | None = 1  # torch threads during the search (None: leave as is); see run()
    polish_per_combo: bool = False  # polish_keep points per categorical combination, not per query
    hops: int = 0  # iterated local search after the polish: rounds of perturb-and-polish (see _hop)
    hop_keep: int = 4  # best points per query perturbed in each round
    hop_tries: int = 4  # perturbations of each
    hop_params: int = 2  # numeric parameters redrawn at random per perturbation
    hop_rounds: int = 8  # polish rounds after each perturbation (a perturbed point needs few)


class RecoverLayer(nn.Module):
    """Learnable hardware parameters: ``lo + sigmoid(z) * (hi - lo)`` per numeric column.

    ``lo``/``hi`` (S, Nn) are normalized bounds per start (equal for a parameter the user fixed),
    so every iterate stays inside the training data's range.
    """

    def __init__(self, start_norm: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor):
        super().__init__()
        self.register_buffer("lo", lo)
        self.register_buffer("hi", hi)
        span = (hi - lo).clamp_min(1e-12)
        self.z = nn.Parameter(logit((start_norm - lo) / span))

    def forward(self) -> torch.Tensor:
        return self.lo + torch.sigmoid(self.z) * (self.hi - self.lo)  # (S, Nn)


@dataclass
class Problem:
    """Starts (grid-free normalized values and combos), the networks each start is scored on, bounds."""

    start_norm: torch.Tensor  # (S, Nn)
    combo: torch.Tensor  # (S,) long
    net_index: torch.Tensor  # (S, M) long: networks each start is evaluated on
    idx_lo: torch.Tensor  # (S, Nn) long: allowed grid index range per start and parameter
    idx_hi: torch.Tensor
    loss: LossFn
    group: torch.Tensor  # (S,) long: the query a start belongs to (starts of one query share a loss)


def evaluate(sur: SearchSurrogate, num_norm: torch.Tensor, combo: torch.Tensor, net_index: torch.Tensor) -> dict[str, torch.Tensor]:
    """Log outputs, each (S, M), of S hardware points on their M networks each."""
    S, M = net_index.shape
    hw = sur.assemble(num_norm, combo)  # (S, H)
    hw = hw.repeat_interleave(M, dim=0)  # (S*M, H)
    out = sur.log_outputs(hw, net_index.reshape(-1))
    return {k: v.reshape(S, M) for k, v in out.items()}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads, then restore. One query's batches are small: on a shared
    2-core machine a second thread costs more in synchronisation than it gains (measured 10x)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(sur: SearchSurrogate, prob: Problem, cfg: DescentConfig) -> pd.DataFrame:
    """Descend from every start, snap, polish; return the distinct snapped candidates with losses.

    Columns: ``group`` (query), ``start`` (the start it came from), hardware columns, ``loss``.
    """
    with torch_threads(cfg.threads):
        return _run(sur, prob, cfg)


def _run(sur: SearchSurrogate, prob: Problem, cfg: DescentConfig) -> pd.DataFrame:
    torch.manual_seed(cfg.seed)
    lo = torch.stack([sur.layout.grid_norm[j][prob.idx_lo[:, j]] for j in range(prob.idx_lo.shape[1])], 1)
    hi = torch.stack([sur.layout.grid_norm[j][prob.idx_hi[:, j]] for j in range(prob.idx_hi.shape[1])], 1)
    layer = RecoverLayer(prob.start_norm.clamp(lo, hi), lo, hi)
    opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr)
    sid = torch.arange(len(prob.combo))
    snaps = []
    for step in range(1, cfg.steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = prob.loss(evaluate(sur, layer(), prob.combo, prob.net_index), sid)
        loss.sum().backward()  # starts are independent: the sum's gradient is each start's own
        opt.step()
        if step % cfg.snap_every == 0 or step == cfg.steps:
            snaps.append(_snap(sur, layer().detach(), prob))
    index = torch.cat(snaps) if snaps else _snap(sur, layer().detach(), prob)
    start = sid.repeat(len(snaps) or 1)
    combo = prob.combo[start]
    if cfg.screen:
        s_index, s_start, s_combo = _screen(prob, cfg.screen, len(sur.layout.combos), cfg.seed)
        index, start, combo = torch.cat([index, s_index]), torch.cat([start, s_start]), torch.cat([combo, s_combo])
    with torch.no_grad():
        index, start, loss, combo = _polish(sur, prob, index, start, combo, cfg)
        if cfg.hops:
            index, start, loss, combo = _hop(sur, prob, index, start, loss, combo, cfg)
    return _to_frame(sur, prob, index, start, loss, combo)


def _hop(sur: SearchSurrogate, prob: Problem, index: torch.Tensor, start: torch.Tensor, loss: torch.Tensor,
         combo: torch.Tensor, cfg: DescentConfig):
    """Iterated local search: each query's best points with a few parameters redrawn at random (and
    now and then another categorical combination), polished again; the new points join the pool.
    A greedy polish stops in the first basin; identify's joint fit of many networks has many."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    allowed = _allowed_combos(prob, len(sur.layout.combos))
    sub = replace(cfg, polish_keep=cfg.hop_keep * cfg.hop_tries, polish_rounds=cfg.hop_rounds)
    for _ in range(cfg.hops):
        keep = _best_per_group(prob.group[start], loss, cfg.hop_keep)
        s = start[keep].repeat_interleave(cfg.hop_tries)
        i = index[keep].repeat_interleave(cfg.hop_tries, dim=0)
        redraw = _uniform_index(prob.idx_lo[s], prob.idx_hi[s], gen)
        pick = torch.rand(redraw.shape, generator=gen).argsort(dim=1) < cfg.hop_params  # hop_params columns per row
        i = torch.where(pick, redraw, i)
        other = torch.multinomial(allowed[prob.group[s]].float(), 1, generator=gen)[:, 0]
        c = torch.where(torch.rand(len(s), generator=gen) < 0.25, other, combo[keep].repeat_interleave(cfg.hop_tries))
        ni, ns, nl, nc = _polish(sur, prob, i, s, c, sub)
        index, start, loss, combo = _dedupe(torch.cat([index, ni]), torch.cat([start, ns]), prob.group[torch.cat([start, ns])],
                                            torch.cat([combo, nc]), torch.cat([loss, nl]), extra=torch.cat([combo, nc]))
    return index, start, loss, combo


def _screen(prob: Problem, n: int, n_combos: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` uniform grid points per query (inside its bounds, allowed combinations): cheap extra
    candidates that catch optima the descent's basins miss (identify's corners, for instance)."""
    gen = torch.Generator().manual_seed(seed)
    groups = torch.unique(prob.group)
    first = torch.stack([torch.nonzero(prob.group == g)[0, 0] for g in groups])  # a start of each query
    start = first.repeat_interleave(n)
    index = _uniform_index(prob.idx_lo[start], prob.idx_hi[start], gen)
    allowed = _allowed_combos(prob, n_combos)[prob.group[start]]  # (N, C)
    combo = torch.multinomial(allowed.float(), 1, generator=gen)[:, 0]
    return index, start, combo


def _uniform_index(lo: torch.Tensor, hi: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Grid indices drawn uniformly between ``lo`` and ``hi`` (inclusive), element by element."""
    return lo + (torch.rand(lo.shape, generator=gen) * (hi - lo + 1)).long().clamp_max(hi - lo)


def _snap(sur: SearchSurrogate, num_norm: torch.Tensor, prob: Problem) -> torch.Tensor:
    index = sur.norm_to_index(num_norm)
    return torch.minimum(torch.maximum(index, prob.idx_lo), prob.idx_hi)


def _score(sur: SearchSurrogate, prob: Problem, index: torch.Tensor, start: torch.Tensor, combo: torch.Tensor) -> torch.Tensor:
    out = evaluate(sur, sur.index_to_norm(index), combo, prob.net_index[start])
    return prob.loss(out, start)


def _polish(sur: SearchSurrogate, prob: Problem, index: torch.Tensor, start: torch.Tensor, combo: torch.Tensor,
            cfg: DescentConfig):
    """Greedy moves on the grid: each of the best snapped points takes its best move while it helps.

    Moves: one parameter to any grid value (a line search, which steps over local bumps), two
    parameters by one grid step each (trading one resource for another), or another allowed
    categorical combination.
    """
    index, start, combo = _dedupe(index, start, prob.group[start], combo, extra=combo)
    loss = _score(sur, prob, index, start, combo)
    # per combination: a combination whose best points start worse (bits=16 at half the clock of an
    # 8-bit look-alike, say) still gets polished instead of losing every place to the others
    key = prob.group[start] * len(sur.layout.combos) + combo if cfg.polish_per_combo else prob.group[start]
    keep = _best_per_group(key, loss, cfg.polish_keep)
    index, start, loss, combo = index[keep], start[keep], loss[keep], combo[keep]
    n, d = index.shape
    moves = _Moves.build([len(g) for g in sur.layout.grid_norm], len(sur.layout.combos))
    allowed = _allowed_combos(prob, len(sur.layout.combos))  # (G, C)
    for _ in range(cfg.polish_rounds):
        cand = torch.where(moves.mask[None], moves.value[None], index[:, None, :] + moves.delta[None])  # (n, K, d)
        cand_combo = torch.where(moves.combo[None] >= 0, moves.combo[None], combo[:, None])  # (n, K)
        lo, hi = prob.idx_lo[start][:, None, :], prob.idx_hi[start][:, None, :]
        valid = ((cand >= lo) & (cand <= hi)).all(-1) & allowed[prob.group[start][:, None], cand_combo]
        cand = torch.minimum(torch.maximum(cand, lo), hi)
        K = cand.shape[1]
        cand_loss = _score(sur, prob, cand.reshape(-1, d), start.repeat_interleave(K), cand_combo.reshape(-1))
        cand_loss = cand_loss.reshape(n, K).masked_fill(~valid, float("inf"))
        best, arg = cand_loss.min(dim=1)
        better = best < loss - 1e-9
        if not better.any():
            break
        rows = torch.arange(n)
        index = torch.where(better[:, None], cand[rows, arg], index)
        combo = torch.where(better, cand_combo[rows, arg], combo)
        loss = torch.where(better, best, loss)
    index, start, loss, combo = _dedupe(index, start, prob.group[start], combo, loss, extra=combo)
    return index, start, loss, combo


@dataclass(frozen=True)
class _Moves:
    """K moves: set the ``mask``ed parameters to ``value``, else add ``delta``; ``combo`` >= 0 switches combination."""

    mask: torch.Tensor  # (K, d) bool
    value: torch.Tensor  # (K, d) long
    delta: torch.Tensor  # (K, d) long
    combo: torch.Tensor  # (K,) long, -1 = keep

    @classmethod
    def build(cls, sizes: list[int], n_combos: int) -> _Moves:
        d = len(sizes)
        eye = torch.eye(d, dtype=torch.long)
        pairs = [sa * eye[i] + sb * eye[j] for i in range(d) for j in range(i + 1, d) for sa in (1, -1) for sb in (1, -1)]
        delta = torch.stack(pairs) if pairs else torch.zeros((0, d), dtype=torch.long)
        lines = [(j, v) for j in range(d) for v in range(sizes[j])]
        line_mask = torch.zeros((len(lines), d), dtype=torch.bool)
        line_value = torch.zeros((len(lines), d), dtype=torch.long)
        for k, (j, v) in enumerate(lines):
            line_mask[k, j], line_value[k, j] = True, v
        n_d, n_l = len(delta), len(lines)
        return cls(
            mask=torch.cat([torch.zeros((n_d, d), dtype=torch.bool), line_mask, torch.zeros((n_combos, d), dtype=torch.bool)]),
            value=torch.cat([torch.zeros((n_d, d), dtype=torch.long), line_value, torch.zeros((n_combos, d), dtype=torch.long)]),
            delta=torch.cat([delta, torch.zeros((n_l + n_combos, d), dtype=torch.long)]),
            combo=torch.cat([torch.full((n_d + n_l,), -1, dtype=torch.long), torch.arange(n_combos)]),
        )


def _allowed_combos(prob: Problem, n_combos: int) -> torch.Tensor:
    """(G, C) bool: the combinations each query's starts use (those its fixed values allow)."""
    allowed = torch.zeros((int(prob.group.max()) + 1, n_combos), dtype=torch.bool)
    allowed[prob.group, prob.combo] = True
    return allowed


def _best_per_group(group: torch.Tensor, loss: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` lowest losses of every group."""
    order = np.lexsort((loss.numpy(), group.numpy()))
    g = group.numpy()[order]
    rank = np.arange(len(g)) - np.searchsorted(g, g)  # position within its group
    return torch.as_tensor(np.sort(order[rank < k]))


def _dedupe(index: torch.Tensor, start: torch.Tensor, group: torch.Tensor, combo: torch.Tensor,
            loss: torch.Tensor | None = None, extra: torch.Tensor | None = None):
    """Keep one row per distinct (query, grid point, combination)."""
    key = torch.cat([group[:, None], combo[:, None], index], dim=1).numpy()
    _, first = np.unique(key, axis=0, return_index=True)
    keep = torch.as_tensor(np.sort(first))
    if loss is None:
        return index[keep], start[keep], extra[keep]
    return index[keep], start[keep], loss[keep], extra[keep]


def _to_frame(sur: SearchSurrogate, prob: Problem, index: torch.Tensor, start: torch.Tensor, loss: torch.Tensor,
              combo: torch.Tensor) -> pd.DataFrame:
    frame = sur.state_to_frame(index.numpy(), combo.numpy())
    frame.insert(0, "start", start.numpy())
    frame.insert(0, "group", prob.group[start].numpy())
    frame["loss"] = loss.numpy()
    return frame.sort_values(["group", "loss"], kind="stable").reset_index(drop=True)
