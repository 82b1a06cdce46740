"""The truth side of a single-objective design: which candidates to verify, and an exact local
search on the grid around the best verified ones, each step ordered by the predictor.

Data flows one way: candidate grid points (the descent's, plus a seeded sample of the grid inside
the data bounds) -> surrogate scores (predicted objective and constraint excess; area exact) ->
a verification list (candidates that are feasible with a margin, interleaved with those the
margin leaves uncertain, each by predicted objective) -> truth -> a local search on the truth
(grid neighbours of the best verified point, the predictor choosing the order in which they are
verified; a chunk with a better verified point moves the search there) -> every verified point.

Constraint *excess* is ``max log(value / limit)`` over constraints and networks (``>=`` constraints
flipped): <= 0 is feasible. A margin ``m`` calls a prediction *sure* when its excess is below
``-log(1 + m)`` and *uncertain* when it lies within ``±log(1 + m)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .context import SearchContext
from .problem import Constraint, Objective
from .surrogate import SearchSurrogate

AREA = "area_mm2"
PENALTY = 1000.0  # as blackbox.PENALTY: a 1 % excess costs 0.1 in log objective
CHUNK = 16  # truth calls per local-search step (configurations): the predictor's best 16 first
TRIES = 64  # neighbours verified at most per local-search point before calling it a local optimum
KICKS = 4  # rounds of random multi-parameter jumps from a local optimum (CHUNK verified each)
KICK_POOL = 2048  # jumps scored by the corrected predictor per round


@dataclass(frozen=True)
class Spec:
    """What the design minimizes: networks' weights, objective, constraints, and where it searches."""

    weights: np.ndarray
    objective: Objective
    constraints: Sequence[Constraint]
    outputs: list[str]  # predicted outputs the objective and constraints need (area excluded)
    target: dict[str, float] | None = None  # recover: the objective is 1 + the RMS log error to these

    def objective_of(self, values: pd.DataFrame, n: int, m: int) -> np.ndarray:
        if self.target is not None:
            err = [np.log(values[k].to_numpy(float).reshape(n, m) / t) ** 2 for k, t in self.target.items()]
            return 1.0 + np.sqrt(np.mean(np.concatenate(err, axis=1), axis=1))
        return sum(c * (values[k].to_numpy(float).reshape(n, m) * self.weights[None]).sum(axis=1)
                   for k, c in self.objective.weights.items())

    def excess_of(self, values: pd.DataFrame, area: np.ndarray | None, n: int, m: int) -> np.ndarray:
        out = np.full(n, -np.inf)
        for c in self.constraints:
            v = np.asarray(area, float).reshape(n, 1) if c.output == AREA else values[c.output].to_numpy(float).reshape(n, m)
            gap = np.log(v / c.limit) * (1 if c.op == "<=" else -1)
            out = np.maximum(out, gap.max(axis=1))
        return out

    def loss_of(self, obj: np.ndarray, excess: np.ndarray) -> np.ndarray:
        return np.log(obj) + PENALTY * np.maximum(excess, 0) ** 2

    @property
    def needs_area(self) -> bool:
        return any(c.output == AREA for c in self.constraints)


def predict_points(ctx: SearchContext, sur: SearchSurrogate, spec: Spec, index: np.ndarray, combo: np.ndarray,
                   scale: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Predicted objective, constraint excess and penalized loss of grid points (one row each);
    ``scale`` (n, m) multiplies each predicted output per point and network (see :func:`correction`)."""
    from .pareto_design import area_of, predict

    n, m = len(index), len(sur.nets)
    pred = predict(ctx, sur, index, combo, spec.outputs)
    for name, factor in (scale or {}).items():
        pred[name] = pred[name].to_numpy() * np.asarray(factor, float).reshape(n, m).reshape(-1)
    area = area_of(ctx, sur.state_to_frame(index, combo)) if spec.needs_area and n else None
    obj = spec.objective_of(pred, n, m)
    excess = spec.excess_of(pred, area, n, m)
    return pd.DataFrame({"pred_objective": obj, "pred_excess": excess, "pred_loss": spec.loss_of(obj, excess)})


def grid_sample(ctx: SearchContext, sur: SearchSurrogate, fixed: dict, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` grid points inside the data bounds (all when there are fewer), fixed values honoured."""
    from .pareto_design import grid_pool

    return grid_pool(ctx, sur, fixed, n, seed)


def verification_order(scores: pd.DataFrame, margin: float, k: int, interleave: bool = True) -> np.ndarray:
    """Positions of up to ``k`` candidates to verify: those feasible with the margin and those the
    margin leaves uncertain, alternately (or, with ``interleave=False``, the sure ones first), each
    by predicted objective; then the least infeasible. In-domain candidates come first."""
    band = np.log1p(margin)
    ex, obj = scores["pred_excess"].to_numpy(), scores["pred_objective"].to_numpy()
    sure = np.flatnonzero(ex <= -band)
    unsure = np.flatnonzero((ex > -band) & (ex <= band))
    inside = scores["in_domain"].to_numpy() if "in_domain" in scores else np.ones(len(scores), bool)
    sure = sure[np.lexsort((obj[sure], ~inside[sure]))]
    unsure = unsure[np.lexsort((obj[unsure], ~inside[unsure]))]
    mixed = np.empty(len(sure) + len(unsure), dtype=np.int64)
    j = min(len(sure), len(unsure)) if interleave else 0
    mixed[: 2 * j:2], mixed[1: 2 * j:2] = sure[:j], unsure[:j]
    mixed[2 * j:] = np.concatenate([sure[j:], unsure[j:]])
    rest = np.setdiff1d(np.arange(len(scores)), mixed)
    rest = rest[np.lexsort((scores["pred_loss"].to_numpy()[rest], ~inside[rest]))]
    return np.concatenate([mixed, rest])[:k]


@dataclass
class TruthLog:
    """Every configuration verified, in order, with its truth values (long, per network)."""

    nets: Sequence[Any]
    spec: Spec
    t0: float  # the query's start (time.perf_counter), for the trace
    index: list[np.ndarray] = field(default_factory=list)
    combo: list[np.ndarray] = field(default_factory=list)
    values: list[pd.DataFrame] = field(default_factory=list)
    trace: list[np.ndarray] = field(default_factory=list)  # compute s, calls, objective or inf
    seen: set = field(default_factory=set)
    calls: int = 0
    ratios: list[dict[str, np.ndarray]] = field(default_factory=list)  # truth / prediction, (n, m) per output

    def verify(self, ctx: SearchContext, sur: SearchSurrogate, index: np.ndarray, combo: np.ndarray):
        """Truth values of the configurations (each on every network); returns objective, excess."""
        n, m = len(index), len(self.nets)
        hw = sur.state_to_frame(index, combo)
        t = time.perf_counter()
        vals = ctx.oracle.evaluate_many(list(self.nets), np.tile(np.arange(m), n),
                                        hw.iloc[np.repeat(np.arange(n), m)].reset_index(drop=True)).reset_index(drop=True)
        obj = self.spec.objective_of(vals, n, m)
        excess = self.spec.excess_of(vals, vals[AREA].to_numpy().reshape(n, m)[:, 0] if self.spec.needs_area else None, n, m)
        k = np.arange(1, n + 1)
        spent = time.perf_counter() - t
        self.trace.append(np.stack([t - self.t0 + spent * k / n, self.calls + m * k, np.where(excess <= 0, obj, np.inf)], 1))
        self.calls += n * m
        self.index.append(index), self.combo.append(combo), self.values.append(vals)
        self.seen.update(_keys(index, combo))
        from .pareto_design import predict
        pred = predict(ctx, sur, index, combo, self.spec.outputs)
        self.ratios.append({k: (vals[k].to_numpy(float) / pred[k].to_numpy(float)).reshape(n, m) for k in self.spec.outputs})
        return obj, excess

    def frame(self) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        if not self.index:
            return np.empty((0, 0), np.int64), np.empty(0, np.int64), pd.DataFrame()
        return np.concatenate(self.index), np.concatenate(self.combo), pd.concat(self.values, ignore_index=True)

    def trace_array(self) -> np.ndarray:
        return np.concatenate(self.trace) if self.trace else np.empty((0, 3))


def _keys(index: np.ndarray, combo: np.ndarray) -> list[tuple]:
    return [tuple(r) + (int(c),) for r, c in zip(index.tolist(), combo.tolist())]


def neighbours(index: np.ndarray, combo: int, sizes: Sequence[int], allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid neighbours of one point: one parameter to any grid value; that, with another parameter
    one step up or down (moving along a binding constraint: a larger array at a lower clock...);
    two parameters one step each; another allowed categorical combination."""
    d = len(index)
    rows = []
    for j in range(d):
        for v in range(sizes[j]):
            if v == index[j]:
                continue
            line = index.copy()
            line[j] = v
            rows.append(line)
            for i in range(d):
                if i != j:
                    for step in (-1, 1):
                        two = line.copy()
                        two[i] += step
                        rows.append(two)
    for i in range(d):
        for j in range(i + 1, d):
            for si in (-1, 1):
                for sj in (-1, 1):
                    two = index.copy()
                    two[i] += si
                    two[j] += sj
                    rows.append(two)
    cand = np.array(rows, dtype=np.int64).reshape(-1, d)
    others = np.flatnonzero(allowed & (np.arange(len(allowed)) != combo))
    cand = np.concatenate([cand, np.repeat(index[None], len(others), 0)])
    cc = np.concatenate([np.full(len(cand) - len(others), combo), others])
    return cand, cc


def kicks(index: np.ndarray, combo: int, sizes: Sequence[int], allowed: np.ndarray, n: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random jumps from one point: 2 to 4 numeric parameters redrawn within 3 grid steps,
    a quarter of them in another allowed categorical combination."""
    d = len(index)
    cand = np.repeat(index[None], n, 0)
    k = rng.integers(2, min(4, d) + 1, n)
    pick = rng.random((n, d)).argsort(1) < k[:, None]
    step = rng.integers(-3, 4, (n, d))
    cand = np.where(pick, np.clip(cand + step, 0, np.asarray(sizes) - 1), cand)
    ids = np.flatnonzero(allowed)
    cc = np.where(rng.random(n) < 0.25, rng.choice(ids, n), combo)
    return cand, cc


def local_search(ctx: SearchContext, sur: SearchSurrogate, spec: Spec, log: TruthLog, starts: list[tuple[np.ndarray, int, float]],
                 fixed: dict, max_calls: int, seed: int = 0, stop_loss: float = -np.inf) -> None:
    """Greedy descent on the truth's penalized loss from each start in turn (grid index, combo,
    verified loss). The unverified :func:`neighbours` of the current point are ranked by the
    predictor *corrected by its error at the nearest verified point* (:func:`correction`: the error
    is smooth, so this removes most of it nearby) and verified ``CHUNK`` at a
    time; the best improving one of a chunk becomes the new point. After ``TRIES`` neighbours
    without improvement, up to ``KICKS`` times: ``KICK_POOL`` random jumps of 2-4 parameters
    (:func:`kicks`), ranked the same way, the best ``CHUNK`` verified (a binding constraint often
    needs several parameters to move at once: a larger array at a lower clock with more DRAM
    bandwidth). Stops at a point neither improves, at ``max_calls``, or once the loss is at most
    ``stop_loss``."""
    lo, hi = ctx.index_bounds(fixed)
    sizes = [len(g) for g in sur.layout.grid_norm]
    allowed = np.array([all(c[k] == fixed[k] for k in c if k in fixed) for c in sur.layout.combos])
    rng = np.random.default_rng(seed)
    m = len(log.nets)

    def fresh(cand, cc):
        ok = ((cand >= lo) & (cand <= hi)).all(1) & np.array([k not in log.seen for k in _keys(cand, cc)], dtype=bool)
        cand, cc = cand[ok], cc[ok]
        _, first = np.unique(np.column_stack([cand, cc]), axis=0, return_index=True)
        return cand[np.sort(first)], cc[np.sort(first)]

    for index, combo, loss in starts:
        kicked = 0
        while log.calls + m <= max_calls and loss > stop_loss:
            stuck = kicked > 0
            cand, cc = fresh(*(kicks(index, combo, sizes, allowed, KICK_POOL, rng) if stuck else neighbours(index, combo, sizes, allowed)))
            order = np.empty(0, dtype=np.int64)
            if len(cand):
                scale = correction(log, sizes, cand, cc)
                order = np.argsort(predict_points(ctx, sur, spec, cand, cc, scale)["pred_loss"].to_numpy(), kind="stable")
                order = order[:CHUNK if stuck else TRIES]
            moved = False
            for s in range(0, len(order), CHUNK):
                part = order[s:s + min(CHUNK, (max_calls - log.calls) // m)]
                if not len(part):
                    return
                obj, excess = log.verify(ctx, sur, cand[part], cc[part])
                vl = spec.loss_of(obj, excess)
                j = int(np.argmin(vl))
                if vl[j] < loss - 1e-12:
                    index, combo, loss, moved = cand[part][j], int(cc[part][j]), float(vl[j]), True
                    break
            if moved:
                kicked = 0
            elif kicked >= KICKS:
                break
            else:
                kicked += 1


def correction(log: TruthLog, sizes: Sequence[int], cand: np.ndarray, cc: np.ndarray) -> dict[str, np.ndarray]:
    """Truth / prediction per output and network, (n, m), of each candidate's nearest verified point
    (grid steps scaled to [0, 1] per parameter; one of the same categorical combination when there
    is one): the predictor's error is smooth within a combination, not across combinations."""
    idx, cmb = np.concatenate(log.index), np.concatenate(log.combo)
    span = np.maximum(np.asarray(sizes, float) - 1, 1)
    dist = (((cand[:, None, :] - idx[None, :, :]) / span) ** 2).sum(-1) + 4.0 * (cc[:, None] != cmb[None, :])
    near = dist.argmin(1)
    return {k: np.concatenate([r[k] for r in log.ratios])[near] for k in log.spec.outputs}


def truth_stage(ctx: SearchContext, sur: SearchSurrogate, spec: Spec, nets: Sequence[Any], index: np.ndarray,
                combo: np.ndarray, scores: pd.DataFrame, *, margin: float, verify_k: int, max_calls: int,
                refine_starts: int, fixed: dict, t0: float, seed: int = 0) -> TruthLog:
    """Verify the candidates the margin points to, then search the truth's neighbourhood of the
    best ``refine_starts`` verified ones; ``max_calls`` bounds the truth calls of both."""
    log = TruthLog(nets, spec, t0)
    m = len(nets)
    first = verification_order(scores, margin, min(verify_k, max(max_calls // m, 1)))
    with torch.no_grad():
        obj, excess = log.verify(ctx, sur, index[first], combo[first])
        vl = spec.loss_of(obj, excess)
        best = np.argsort(vl, kind="stable")[:refine_starts]
        starts = [(index[first][i], int(combo[first][i]), float(vl[i])) for i in best]
        if refine_starts:
            local_search(ctx, sur, spec, log, starts, fixed, max_calls, seed)
    return log
