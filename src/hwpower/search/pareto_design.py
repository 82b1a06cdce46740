"""Multi-objective design: the Pareto front of 2 or 3 objectives (``P``, ``latency_ms``,
``energy_mj``, ``area_mm2`` ...) under constraints, every returned point verified by the oracle.

Data flows one way: grid points inside the training domain (all of them, or a seeded sample) ->
surrogate scores (the frozen predictor; the area is exact) -> a Pareto local search on the surrogate
front (one grid step per parameter, or another categorical combination) -> candidates: the
surrogate front widened by an uncertainty margin, then further non-dominated ranks, up to the truth
budget -> oracle verification -> the front of the verified values, with its knee point.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .context import SearchContext
from .descent import evaluate, torch_threads
from .pareto import (AREA, feasible, hv_select, knee, nondominated, nondominated_rank, normalize, objective_values,
                     parse_objectives)
from .problem import Constraint
from .results import SearchResult
from .surrogate import SearchSurrogate

CHUNK = 16384  # surrogate rows per forward pass
FIRST_SHARE = 0.3  # of the truth budget spent in the first round of verification; the rest in ROUNDS more
ROUNDS = 8
NEIGHBOURS = 3  # verified configurations whose truth-minus-prediction residual corrects a candidate


def area_of(ctx: SearchContext, hw: pd.DataFrame) -> np.ndarray:
    """Exact chip area (mm^2) of hardware rows: the oracle's own ``area_mm2`` or its settings' model."""
    own = getattr(ctx.oracle, "area_mm2", None)
    if callable(own):
        return np.asarray(own(hw), dtype=float).reshape(-1)
    settings = getattr(ctx.oracle, "settings", None)
    if settings is None:
        from ..oracle import OracleSettings
        settings = OracleSettings()
    from ..oracle.area import hardware_area_mm2
    return hardware_area_mm2(hw, settings.tech_constants)


def grid_pool(ctx: SearchContext, sur: SearchSurrogate, fixed: dict, max_points: int, seed: int):
    """Grid indices (N, Nn) and combination ids (N,) inside the data bounds: all, or a seeded sample."""
    lo, hi = ctx.index_bounds(fixed)
    allowed = _allowed(sur, fixed)
    sizes = hi - lo + 1
    total = int(np.prod(sizes)) * len(allowed)
    if total <= max_points:
        index = np.indices(sizes).reshape(len(sizes), -1).T + lo
        combo = np.repeat(allowed, len(index))
        return np.tile(index, (len(allowed), 1)), combo
    rng = np.random.default_rng(seed)
    index = lo + np.floor(rng.random((max_points, len(sizes))) * sizes).astype(np.int64)
    return index, rng.choice(allowed, max_points)


def _allowed(sur: SearchSurrogate, fixed: dict) -> np.ndarray:
    ids = [i for i, c in enumerate(sur.layout.combos) if all(c[k] == fixed[k] for k in c if k in fixed)]
    if not ids:
        raise InputError(f"no categorical combination matches the fixed values {fixed}")
    return np.array(ids)


def predict(ctx: SearchContext, sur: SearchSurrogate, index: np.ndarray, combo: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Predicted outputs (physical units), long: row ``i * M + j`` = configuration i on network j."""
    M = len(sur.nets)
    parts = []
    with torch.no_grad(), torch_threads(ctx.config.threads):
        for s in range(0, len(index), CHUNK):
            idx = torch.as_tensor(index[s:s + CHUNK])
            cmb = torch.as_tensor(combo[s:s + CHUNK])
            net_index = torch.arange(M).repeat(len(idx), 1)
            out = evaluate(sur, sur.index_to_norm(idx), cmb, net_index)
            parts.append({n: out[n].exp().reshape(-1).numpy().astype(float) for n in names})
    return pd.DataFrame({n: np.concatenate([p[n] for p in parts]) for n in names})


def neighbours(index: np.ndarray, combo: np.ndarray, lo: np.ndarray, hi: np.ndarray, allowed: np.ndarray):
    """Every configuration one grid step away in one parameter, or in another allowed combination."""
    idx, cmb = [], []
    for j in range(index.shape[1]):
        for step in (-1, 1):
            moved = index.copy()
            moved[:, j] += step
            ok = (moved[:, j] >= lo[j]) & (moved[:, j] <= hi[j])
            idx.append(moved[ok])
            cmb.append(combo[ok])
    for c in allowed:
        other = combo != c
        idx.append(index[other])
        cmb.append(np.full(int(other.sum()), c))
    return np.concatenate(idx), np.concatenate(cmb)


class _Scored:
    """Scored configurations: grid index, combination, predicted objectives (log) and feasibility."""

    def __init__(self, nn: int):
        self.index = np.empty((0, nn), np.int64)
        self.combo = np.empty(0, np.int64)
        self.logF = np.empty((0, 0))
        self.ok = np.empty(0, bool)
        self.keys: set[bytes] = set()

    def new(self, index: np.ndarray, combo: np.ndarray):
        key = np.column_stack([index, combo]).astype(np.int64)
        _, first = np.unique(key, axis=0, return_index=True)
        fresh = [i for i in np.sort(first) if key[i].tobytes() not in self.keys]
        return index[fresh], combo[fresh]

    def add(self, index, combo, logF, ok) -> None:
        key = np.column_stack([index, combo]).astype(np.int64)
        self.keys.update(row.tobytes() for row in key)
        self.index, self.combo = np.vstack([self.index, index]), np.concatenate([self.combo, combo])
        self.logF = logF if self.logF.size == 0 else np.vstack([self.logF, logF])
        self.ok = np.concatenate([self.ok, ok])


def design_front(ctx: SearchContext, nets: Sequence[Any], objectives: Sequence[str] | str, *,
                 weights: Sequence[float] | None = None, constraints: Sequence[Constraint] = (),
                 fixed: dict | None = None, budget: int = 500, verify: bool = False,
                 names: Sequence[str] | None = None, margin_pct: float = 3.0, slack_pct: float = 2.0,
                 max_points: int = 20000, rounds: int = 3, seed: int = 0, sequential: bool = True) -> SearchResult:
    """The Pareto front of ``objectives`` (weighted sums over ``nets``; the area once) under
    ``constraints`` on every network. ``budget``: oracle calls for verification (configurations x
    networks). ``margin_pct``: candidates dominated in prediction by less than this are kept (the
    predictor's error band). ``sequential`` (with ``verify``): spend the budget in rounds
    (:func:`_sequential`), else verify the ranked surrogate candidates at once (:func:`_candidates`).
    Returns a :class:`SearchResult` whose ``front`` holds the verified front.
    """
    fixed = fixed or {}
    objs = parse_objectives(objectives)
    M = len(nets)
    w = np.asarray(weights if weights is not None else [1.0] * M, dtype=float)
    if len(w) != M or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"need one non-negative weight per network ({M}), not all zero; got {w.tolist()}")
    if budget < M:
        raise InputError(f"a budget of {budget} oracle calls cannot verify one configuration on {M} networks")
    if verify and ctx.oracle is None:
        raise InputError("verification needs an oracle, and none was given")
    t0 = time.perf_counter()
    sur = ctx.surrogate(nets)
    outs = sorted({o for o in objs if o != AREA} | {c.output for c in constraints if c.output != AREA})
    sur.require(outs, "design")
    lo, hi = ctx.index_bounds(fixed)
    pool = _Scored(len(lo))

    def score(index, combo):
        index, combo = pool.new(index, combo)
        if len(index):
            hw = sur.state_to_frame(index, combo)
            pred, area = predict(ctx, sur, index, combo, outs), area_of(ctx, hw)
            F = objective_values(pred, objs, w, len(index), M, area)
            pool.add(index, combo, np.log(F), feasible(pred, constraints, len(index), M, area, rtol=slack_pct / 100))

    score(*grid_pool(ctx, sur, fixed, max_points, seed))
    for _ in range(rounds):  # Pareto local search on the surrogate front
        front = np.flatnonzero(pool.ok)[nondominated(pool.logF[pool.ok])] if pool.ok.any() else np.empty(0, int)
        if not len(front):
            break
        score(*neighbours(pool.index[front], pool.combo[front], lo, hi, _allowed(sur, fixed)))
    seq = _sequential(ctx, sur, nets, pool, score, (lo, hi, _allowed(sur, fixed)), objs, w, constraints,
                      budget // M, seed) if verify and sequential else None
    if seq is None:
        pick, why = _candidates(pool, budget // M, np.log1p(margin_pct / 100))
        orc = None
    else:
        pick, orc, why = seq
    return _result(ctx, sur, nets, pool.index[pick], pool.combo[pick], objs, outs, w, constraints, fixed, verify, names, why,
                   orc=orc, n_scored=len(pool.combo), elapsed=time.perf_counter() - t0, budget=budget,
                   selection="sequential" if seq is not None else "ranks")


def _candidates(pool: _Scored, n: int, margin: float) -> tuple[np.ndarray, str | None]:
    """Up to ``n`` configurations: the surrogate front within ``margin``, then further ranks."""
    ok = np.flatnonzero(pool.ok)
    why = None
    if not len(ok):
        why = "no configuration meets the constraints in prediction: returned some to show which constraint binds"
        return np.arange(len(pool.combo))[:n], why
    F = pool.logF[ok]
    rank = nondominated_rank(F, enough=n).astype(float)
    rank[rank < 0] = np.inf
    band = nondominated(F, margin)
    prio = np.where(rank == 0, 0.0, np.where(band, 0.5, rank))
    order = np.lexsort((F[:, 0], prio))
    if len(order) < n:
        why = f"only {len(order)} configurations meet the constraints in prediction (budget allows {n})"
    take = order[:n]
    last = prio[order[min(n, len(order)) - 1]]
    whole = order[prio[order] < last]
    if len(whole) < len(take):  # spread the partly taken group along the first objective
        group = order[prio[order] == last]
        spread = group[np.unique(np.linspace(0, len(group) - 1, len(take) - len(whole)).round().astype(int))]
        take = np.concatenate([whole, spread])
    return ok[take], why


def _sequential(ctx, sur, nets, pool: _Scored, score, bounds, objs, w, constraints, n: int, seed: int):
    """Verify up to ``n`` configurations in rounds, each chosen for hypervolume over what is verified.

    Round 1 takes ``FIRST_SHARE`` of ``n`` greedily for the hypervolume of the predicted front
    (:func:`.pareto.hv_select`, normalized by the predicted front's ideal and nadir); each later
    round corrects every remaining candidate's prediction by the mean truth-minus-prediction
    residual of its ``NEIGHBOURS`` nearest verified configurations (grid steps; same combination
    first) and takes the ones that add most hypervolume beyond the verified front. Candidates: the
    predicted-feasible pool, its best non-dominated ranks (about 3 ``n`` points). Returns (pool ids,
    the truth's long frame in that order, note), or ``None`` when no candidate is predicted feasible.
    """
    ok = np.flatnonzero(pool.ok)
    if not len(ok):
        return None
    M = len(nets)
    lo, hi, allowed = bounds
    rank = nondominated_rank(pool.logF[ok], enough=3 * n)
    cand_mask = np.zeros(len(pool.ok), bool)
    cand_mask[ok[rank >= 0]] = True
    cand = np.flatnonzero(cand_mask)
    front = pool.logF[cand][nondominated(pool.logF[cand])]
    ideal, nadir = front.min(axis=0), front.max(axis=0)
    first = max(1, int(n * FIRST_SHARE))
    sizes = [first] + [len(a) for a in np.array_split(np.arange(n - first), ROUNDS)]
    chosen, truths, logT, feas = np.empty(0, np.int64), [], np.empty((0, len(objs))), np.empty(0, bool)
    for size in sizes:
        if feas.any():  # Pareto local search on the truth: the verified front's grid neighbours join the pool
            on = chosen[feas][nondominated(logT[feas])]
            score(*neighbours(pool.index[on], pool.combo[on], lo, hi, allowed))
            fresh = np.arange(len(cand_mask), len(pool.ok))
            cand_mask = np.concatenate([cand_mask, pool.ok[fresh]])
            cand = np.flatnonzero(cand_mask)
        left = np.setdiff1d(cand, chosen)
        if size <= 0 or not len(left):
            continue
        est = pool.logF[left] + (_residual(pool, chosen, logT - pool.logF[chosen], left) if len(chosen) else 0.0)
        cover = normalize(logT[feas][nondominated(logT[feas])], ideal, nadir) if feas.any() else None
        gain = np.ones(len(left), bool) if cover is None else nondominated(np.vstack([cover, normalize(est, ideal, nadir)]))[len(cover):]
        sel = np.flatnonzero(gain)[hv_select(normalize(est[gain], ideal, nadir), size, covered=cover, seed=seed + len(chosen),
                                             samples=max(20000, 20 * size))]
        if len(sel) < size:  # no more gain in the estimate: the best further non-dominated ranks of the rest
            rest = np.setdiff1d(np.arange(len(left)), sel)
            r = nondominated_rank(est[rest], enough=size - len(sel)).astype(float)
            rest = rest[np.lexsort((est[rest, 0], np.where(r < 0, np.inf, r)))]
            sel = np.concatenate([sel, rest[: size - len(sel)]])
        new = left[sel]
        hw = sur.state_to_frame(pool.index[new], pool.combo[new])
        orc = ctx.oracle.evaluate_many(list(nets), np.tile(np.arange(M), len(new)),
                                       hw.iloc[np.repeat(np.arange(len(new)), M)].reset_index(drop=True)).reset_index(drop=True)
        area = area_of(ctx, hw)
        logT = np.vstack([logT, np.log(objective_values(orc, objs, w, len(new), M, area))])
        feas = np.concatenate([feas, feasible(orc, constraints, len(new), M, area)])
        chosen = np.concatenate([chosen, new])
        truths.append(orc)
    why = None if len(chosen) == n else f"only {len(chosen)} configurations meet the constraints in prediction (budget allows {n})"
    return chosen, pd.concat(truths, ignore_index=True), why


def _residual(pool: _Scored, done: np.ndarray, resid: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean residual of the ``NEIGHBOURS`` verified configurations nearest to each of ``rows``."""
    from sklearn.neighbors import NearestNeighbors

    def feats(ids):  # grid steps; another combination counts as far away
        return np.column_stack([pool.index[ids], 100 * pool.combo[ids]]).astype(float)

    k = min(NEIGHBOURS, len(done))
    _, near = NearestNeighbors(n_neighbors=k).fit(feats(done)).kneighbors(feats(rows))
    return resid[near].mean(axis=1)


def binding(values: pd.DataFrame, constraints: Sequence[Constraint], n: int, m: int, area: np.ndarray) -> str | None:
    """The constraint that most configurations miss (ties: the larger worst relative violation)."""
    best, key = None, (0, 0.0)
    for c in constraints:
        v = np.asarray(area, float).reshape(n, 1) if c.output == AREA else values[c.output].to_numpy(float).reshape(n, m)
        rel = (v / c.limit - 1) if c.op == "<=" else (1 - v / c.limit)
        worst = rel.max(axis=1)
        k = (int((worst > 0).sum()), float(worst.max()) if len(worst) else 0.0)
        if k > key:
            best, key = f"{c} (missed by {k[0]} of {n} candidates, worst by {100 * k[1]:.1f} %)", k
    return best


def _result(ctx, sur, nets, index, combo, objs, outs, w, constraints, fixed, verify, names, why, orc=None,
            **meta_extra) -> SearchResult:
    M, n = len(nets), len(index)
    hw = sur.state_to_frame(index, combo)
    area = area_of(ctx, hw)
    pred = predict(ctx, sur, index, combo, outs) if n else pd.DataFrame({o: np.empty(0) for o in outs})
    Fp = objective_values(pred, objs, w, n, M, area)
    out = ctx.domain.annotate(hw).reset_index(drop=True)
    for j, o in enumerate(objs):
        out[f"pred_{o}"] = Fp[:, j]
    out["pred_feasible"] = feasible(pred, constraints, n, M, area)
    meta = {"objectives": list(objs), "constraints": [str(c) for c in constraints], "fixed": fixed, "verify": verify,
            "weights": w.tolist(), "n_candidates": n, "note": why, **meta_extra}
    if verify:
        if orc is None:
            orc = ctx.oracle.evaluate_many(list(nets), np.tile(np.arange(M), n), hw.iloc[np.repeat(np.arange(n), M)].reset_index(drop=True))
        Ft = objective_values(orc.reset_index(drop=True), objs, w, n, M, area)
        for j, o in enumerate(objs):
            out[f"oracle_{o}"] = Ft[:, j]
        out["oracle_feasible"] = feasible(orc.reset_index(drop=True), constraints, n, M, area)
        meta["oracle_calls"] = n * M
        F, ok = Ft, out["oracle_feasible"].to_numpy()
        if n and not ok.any():
            meta["binding_constraint"] = binding(orc.reset_index(drop=True), constraints, n, M, area)
    else:
        F, ok = Fp, out["pred_feasible"].to_numpy()
    on = np.zeros(n, bool)
    if ok.any():
        on[np.flatnonzero(ok)[nondominated(F[ok])]] = True
    out["on_front"] = on
    out["knee"] = False
    if on.any():
        out.loc[np.flatnonzero(on)[knee(F[on])], "knee"] = True
    front = out[on].sort_values(f"{'oracle' if verify else 'pred'}_{objs[0]}").reset_index(drop=True)
    meta["front_size"] = int(on.sum())
    meta["knee"] = front[front["knee"]][list(sur.view.order)].iloc[0].to_dict() if on.any() else None
    return SearchResult("design", out, {"front": front}, meta, list(sur.view.order))
