"""The three searches on the frozen predictor — recover, identify, design — each verified by the
oracle on request. Every query runs all its starts as one batch (see :mod:`.descent`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .context import SearchContext
from .descent import run
from .problem import Constraint, Objective, parse_objective
from .refine import AREA, Spec, grid_sample, predict_points, truth_stage, verification_order
from .results import SearchResult
from .steps import candidate_hardware, predict_outputs, search_meta, search_problem
from .surrogate import SearchSurrogate

VERIFY_K = 32  # design: candidates verified by the truth before the local search
REFINE_CONFIGS = 600  # design: configurations the truth's local search may verify besides (default budget)
REFINE_STARTS = 2  # design: best verified points the local search starts from, in turn
DESIGN_KEEP = 16  # design: descent points polished (the grid sample and the truth's local search add the rest)
POOL = 4096  # design: seeded grid points scored by the predictor beside the descent's
MARGIN_LEVEL = 0.9  # design: calibrated interval whose half-width is the default margin
RECOVER_TRUTH_CALLS = 64  # recover --verify: most truth calls per query (its candidates, then the local search)
RECOVER_STOP_PCT = 0.5  # recover --verify: the local search stops once every target is met this closely
MU = 1000.0  # weight of squared log constraint violations: a 1% violation costs 0.1 (in log units)
RECOVER_MIN_DIST = 0.05  # unit-cube distance between returned recover candidates (diversity)


@dataclass(frozen=True)
class RecoverQuery:
    """A network and the power(s) to reproduce, e.g. ``{"P": 1.3}`` or ``{"P_core": .8, "P_bw": .4}``."""

    net: Any
    target: dict[str, float]
    name: str = ""


def _select(frame: pd.DataFrame, sur: SearchSurrogate, k: int, min_dist: float) -> pd.DataFrame:
    """Up to ``k`` rows in order, skipping rows within ``min_dist`` of a kept one with the same categoricals."""
    unit = sur.view.to_unit(frame)
    cats = frame[list(sur.view.categorical)].astype(str).agg("/".join, axis=1).to_numpy()
    kept: list[int] = []
    for i in range(len(frame)):
        near = [j for j in kept if cats[j] == cats[i] and np.linalg.norm(unit[i] - unit[j]) < min_dist]
        if not near:
            kept.append(i)
            if len(kept) == k:
                break
    return frame.iloc[kept]


def _pick(cands: pd.DataFrame, sur: SearchSurrogate, k: int, min_dist: float) -> pd.DataFrame:
    """The ranked, diverse top ``k`` of every query (group)."""
    parts = []
    for _, g in cands.groupby("group", sort=True):
        sel = _select(g, sur, k, min_dist)
        parts.append(sel.assign(rank=np.arange(1, len(sel) + 1)))
    return pd.concat(parts, ignore_index=True)


def recover(ctx: SearchContext, queries: Sequence[RecoverQuery], *, fixed: dict | None = None, top_k: int = 5,
            verify: bool = False, seed: int = 0) -> SearchResult:
    """Hardware configurations that make each query's network draw its target power(s)."""
    fixed = fixed or {}
    names = sorted({n for q in queries for n in q.target})
    for q in queries:
        if set(q.target) != set(queries[0].target):
            raise InputError("all recover queries must give the same outputs", where=q.name or None)
    t0 = time.perf_counter()
    sur = ctx.surrogate([q.net for q in queries])
    sur.require(names, "recover")
    log_target = torch.log(torch.tensor([[q.target[n] for n in names] for q in queries], dtype=torch.float32))

    def loss(out: dict[str, torch.Tensor], start: torch.Tensor) -> torch.Tensor:
        tgt = log_target[prob.group[start]]  # (S, T)
        return sum((out[n][:, 0] - tgt[:, i]) ** 2 for i, n in enumerate(names))

    prob = search_problem(ctx, sur, torch.arange(len(queries))[:, None], fixed, loss, seed)
    cands = ctx.domain.annotate(run(sur, prob, ctx.config))
    cands = cands.sort_values(["group", "in_domain", "loss"], ascending=[True, False, True], kind="stable")
    picked = _pick(cands, sur, top_k, RECOVER_MIN_DIST)
    calls = 0
    if verify:  # the truth's local search from the predictor's candidates (see _recover_truth)
        if ctx.oracle is None:
            raise InputError("verification needs an oracle, and none was given")
        picked, orc, calls = _recover_truth(ctx, sur, queries, picked, names, top_k, fixed, seed, t0)
    hw = candidate_hardware(picked, sur)
    net_index = picked["group"].to_numpy().copy()
    pred = predict_outputs(sur, hw, net_index, names)
    elapsed = time.perf_counter() - t0
    out = pd.DataFrame({"query": [queries[g].name or str(g) for g in net_index], "rank": picked["rank"].to_numpy()})
    out = pd.concat([out, hw], axis=1)
    for n in names:
        target = np.array([queries[g].target[n] for g in net_index])
        out[f"target_{n}"] = target
        out[f"pred_{n}"] = pred[n]
        out[f"pred_err_{n}_pct"] = 100 * (pred[n] / target - 1)
    if verify:
        for n in names:
            out[f"oracle_{n}"] = orc[n].to_numpy()
            out[f"oracle_err_{n}_pct"] = 100 * (orc[n].to_numpy() / out[f"target_{n}"] - 1)
    out["ood_score"] = picked["ood_score"].to_numpy()
    out["in_domain"] = picked["in_domain"].to_numpy()
    meta = search_meta(ctx, prob, elapsed, targets=names, fixed=fixed, verify=verify)
    if verify:
        meta["oracle_calls"] = calls
    return SearchResult("recover", out, {}, meta, list(sur.view.order))


def _recover_truth(ctx: SearchContext, sur: SearchSurrogate, queries: Sequence[RecoverQuery], picked: pd.DataFrame,
                   names: list[str], top_k: int, fixed: dict, seed: int, t0: float):
    """Per query: verify its candidates, then a local search on the truth (:func:`.refine.local_search`,
    the predictor corrected at the nearest verified point) until a point is within
    ``RECOVER_STOP_PCT`` of every target or ``RECOVER_TRUTH_CALLS`` calls; the ``top_k`` verified
    points closest to the target, in order. Returns them (with ``group`` and ``rank``), the truth's
    rows and the calls made."""
    from .refine import TruthLog, local_search

    parts, truths, calls = [], [], 0
    for g, q in enumerate(queries):
        one = ctx.surrogate([q.net])
        spec = Spec(np.ones(1), Objective({}), [], names, target=dict(q.target))
        log = TruthLog([q.net], spec, t0)
        mine = picked[picked["group"] == g]
        index, combo = (t.numpy() for t in one.frame_to_state(candidate_hardware(mine, one)))
        with torch.no_grad():
            obj, excess = log.verify(ctx, one, index, combo)
            loss = spec.loss_of(obj, excess)
            best = int(np.argmin(loss))
            local_search(ctx, one, spec, log, [(index[best], int(combo[best]), float(loss[best]))], fixed,
                         RECOVER_TRUTH_CALLS, seed, stop_loss=float(np.log1p(RECOVER_STOP_PCT / 100)))
        v_index, v_combo, truth = log.frame()
        order = np.argsort(spec.objective_of(truth, len(v_index), 1), kind="stable")[:top_k]
        hw = ctx.domain.annotate(one.state_to_frame(v_index[order], v_combo[order]))
        parts.append(hw.assign(group=g, rank=np.arange(1, len(order) + 1)))
        truths.append(truth.iloc[order])
        calls += log.calls
    return pd.concat(parts, ignore_index=True), pd.concat(truths, ignore_index=True), calls


def design(ctx: SearchContext, nets: Sequence[Any], *, weights: Sequence[float] | None = None,
           objective: Objective | str = "P", constraints: Sequence[Constraint] = (), fixed: dict | None = None,
           top_k: int = 8, verify: bool = False, names: Sequence[str] | None = None, slack_pct: float = 2.0,
           seed: int = 0, objectives: Sequence[str] | str | None = None, budget: int = 500,
           margin: float | None = None, verify_k: int = VERIFY_K, truth_calls: int | None = None,
           refine_starts: int = REFINE_STARTS) -> SearchResult:
    """Minimize ``objective`` (weighted over ``nets``) subject to ``constraints`` on every network.

    Candidates come from the descent and a seeded sample of the grid, scored by the predictor
    (``area_mm2`` constraints exactly). ``margin`` (relative; default: the predictor's calibrated
    90 % half-width of the constrained outputs, :func:`design_margin`) separates predictions that
    are feasible for sure from uncertain ones. Without ``verify`` the ``top_k`` best sure ones come
    first. With ``verify`` the truth (``ctx.oracle``) checks ``verify_k`` candidates (sure and
    uncertain ones alternately), then searches the grid neighbourhood of the best ``refine_starts``
    verified ones (:mod:`.refine`), at most ``truth_calls`` calls (configurations x networks;
    default ``(verify_k + REFINE_CONFIGS) x networks``); the ``top_k`` best *verified* points are
    returned, feasible ones first, and ``meta["best"]`` is the best feasible one. Fewer than
    ``top_k`` candidates happen only when the grid (with ``fixed``) has fewer points, and
    ``meta["note"]`` says so; when none is feasible under the truth, ``meta["binding_constraint"]``
    names the constraint most of them miss. ``meta["truth_trace"]``: per verified configuration,
    compute seconds since the query began, truth calls so far, and its objective (inf if infeasible).

    With ``objectives`` (2 or 3 of P, latency_ms, energy_mj, area_mm2 ...) it returns the Pareto
    front instead (:func:`.pareto_design.design_front`, ``budget`` oracle calls; ``result.front``).
    """
    if objectives is not None:
        from .pareto_design import design_front
        return design_front(ctx, nets, objectives, weights=weights, constraints=constraints, fixed=fixed,
                            budget=budget, verify=verify, names=names, slack_pct=slack_pct, seed=seed)
    fixed = fixed or {}
    obj = parse_objective(objective) if isinstance(objective, str) else objective
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(nets), dtype=torch.float32)
    if len(w) != len(nets) or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"need one non-negative weight per network ({len(nets)}), not all zero; got {w.tolist()}")
    if top_k < 1 or verify_k < 1 or refine_starts < 0:
        raise InputError(f"top_k and verify_k must be >= 1 and refine_starts >= 0; got {top_k}, {verify_k}, {refine_starts}")
    if verify and ctx.oracle is None:
        raise InputError("verification needs an oracle, and none was given")
    t0 = time.perf_counter()
    sur = ctx.surrogate(nets)
    outs = sorted(set(obj.weights) | {c.output for c in constraints if c.output != AREA})
    sur.require(outs, "design")
    spec = Spec(w.numpy().astype(float), obj, list(constraints), outs)
    margin = design_margin(ctx, constraints) if margin is None else float(margin)
    if not margin >= 0:
        raise InputError(f"the design margin must be >= 0, got {margin}")
    area_cons = [c for c in constraints if c.output == AREA]

    def objective_log(out: dict[str, torch.Tensor]) -> torch.Tensor:
        total = sum(c * (out[n].exp() * w).sum(dim=1) for n, c in obj.weights.items())
        return torch.log(total)

    def violation(out: dict[str, torch.Tensor]) -> torch.Tensor:
        v = torch.zeros(next(iter(out.values())).shape[0])
        for c in constraints:
            if c.output == AREA:
                continue  # exact, hardware only: checked on every grid candidate below
            gap = out[c.output] - np.log(c.limit)
            v = v + (torch.relu(gap if c.op == "<=" else -gap) ** 2).sum(dim=1)
        return v

    def loss(out: dict[str, torch.Tensor], start: torch.Tensor) -> torch.Tensor:
        return objective_log(out) + MU * violation(out)

    prob = search_problem(ctx, sur, torch.arange(len(nets))[None, :], fixed, loss, seed)
    found = run(sur, prob, replace(ctx.config, polish_keep=max(ctx.config.polish_keep, DESIGN_KEEP)))
    d_index, d_combo = sur.frame_to_state(candidate_hardware(found, sur))
    g_index, g_combo = grid_sample(ctx, sur, fixed, POOL, seed)
    index = np.concatenate([d_index.numpy(), g_index])
    combo = np.concatenate([d_combo.numpy(), g_combo])
    _, first = np.unique(np.column_stack([index, combo]), axis=0, return_index=True)
    index, combo = index[np.sort(first)], combo[np.sort(first)]
    hw_pool = sur.state_to_frame(index, combo)
    scores = pd.concat([predict_points(ctx, sur, spec, index, combo), ctx.domain.annotate(hw_pool)[["ood_score", "in_domain"]]], axis=1)
    M = len(nets)
    meta = search_meta(ctx, prob, 0.0, objective=str(obj), constraints=[str(c) for c in constraints], fixed=fixed,
                       verify=verify, margin=margin, n_pool=len(index))
    if verify:
        calls = truth_calls if truth_calls is not None else (max(verify_k, top_k) + REFINE_CONFIGS) * M
        log = truth_stage(ctx, sur, spec, nets, index, combo, scores, margin=margin, verify_k=max(verify_k, top_k),
                          max_calls=calls, refine_starts=refine_starts, fixed=fixed, t0=t0, seed=seed)
        v_index, v_combo, truth = log.frame()
        n = len(v_index)
        t_obj = spec.objective_of(truth, n, M)
        t_ex = spec.excess_of(truth, truth[AREA].to_numpy().reshape(n, M)[:, 0] if area_cons else None, n, M)
        order = np.lexsort((spec.loss_of(t_obj, t_ex), t_ex > 0))[:top_k]
        index, combo = v_index[order], v_combo[order]
        scores = pd.concat([predict_points(ctx, sur, spec, index, combo),
                            ctx.domain.annotate(sur.state_to_frame(index, combo))[["ood_score", "in_domain"]]], axis=1)
        rows = (order[:, None] * M + np.arange(M)[None]).reshape(-1)
        truth = truth.iloc[rows].reset_index(drop=True)
        meta.update(oracle_calls=log.calls, truth_trace=log.trace_array().tolist(), n_verified=n)
    else:
        pick = verification_order(scores, margin, top_k, interleave=False)
        index, combo, scores = index[pick], combo[pick], scores.iloc[pick].reset_index(drop=True)
    hw = sur.state_to_frame(index, combo)
    elapsed = time.perf_counter() - t0
    meta["search_time_s"] = round(elapsed, 4)
    if len(hw) < top_k:
        meta["note"] = (f"only {len(hw)} candidate configurations exist or were verified (asked for {top_k}): "
                        f"the grid inside the data bounds{' with the fixed values' if fixed else ''} has {meta['n_pool']} points"
                        + ("" if not verify else f" and {meta['n_verified']} were verified"))
    out = pd.concat([pd.DataFrame({"rank": np.arange(1, len(hw) + 1)}), hw], axis=1)
    out["pred_objective"] = scores["pred_objective"].to_numpy()
    out["pred_feasible"] = scores["pred_excess"].to_numpy() <= 0
    out["pred_feasible_margin"] = scores["pred_excess"].to_numpy() <= -np.log1p(margin)
    pred = predict_outputs(sur, hw, np.tile(np.arange(M), len(hw)), outs)
    labels = list(names) if names is not None else [str(i) for i in range(M)]
    details = pd.DataFrame({"rank": np.repeat(np.arange(1, len(hw) + 1), M), "network": np.tile(labels, len(hw))})
    for n in outs:
        details[f"pred_{n}"] = pred[n].to_numpy()
    if area_cons:
        from .pareto_design import area_of
        out[AREA] = area_of(ctx, hw)
    if verify:
        for n in outs:
            details[f"oracle_{n}"] = truth[n].to_numpy()
        n = len(hw)
        out["oracle_objective"] = spec.objective_of(truth, n, M)
        out["oracle_feasible"] = spec.excess_of(truth, out[AREA].to_numpy() if area_cons else None, n, M) <= 0
        ok = out[out["oracle_feasible"]]
        meta["best"] = None if ok.empty else ok.iloc[0][list(sur.view.order)].to_dict()
        meta["best_oracle_objective"] = None if ok.empty else float(ok["oracle_objective"].iloc[0])
        if ok.empty and constraints:
            from .pareto_design import binding
            meta["binding_constraint"] = binding(truth, constraints, n, M, out[AREA].to_numpy() if area_cons else np.zeros(n))
    out["ood_score"] = scores["ood_score"].to_numpy()
    out["in_domain"] = scores["in_domain"].to_numpy()
    return SearchResult("design", out, {"details": details}, meta, list(sur.view.order))


def design_margin(ctx: SearchContext, constraints: Sequence[Constraint], level: float = MARGIN_LEVEL) -> float:
    """Relative margin on predicted constraint values: the widest calibrated ``level`` half-width
    (``model.uncertainty``) of the constrained outputs (``P`` takes the wider of ``P_core`` and
    ``P_bw`` when it is not calibrated itself); 0 without calibration or predicted constraints."""
    cal = getattr(ctx.predictor, "calibration", None)
    if cal is None:
        return 0.0
    q = 0.0
    for c in constraints:
        if c.output == AREA:
            continue
        parts = [c.output] if c.output in cal.scores else {"P": ["P_core", "P_bw"], "energy_mj": ["P", "latency_ms"]}.get(c.output, [])
        parts = [p for p in parts if p in cal.scores]
        q = max([q] + [cal.log_half_width(p, level) for p in parts])
    return float(np.expm1(q))


def _feasible(values: pd.DataFrame, constraints: Sequence[Constraint], n: int, m: int, rtol: float = 0.0) -> np.ndarray:
    ok = np.ones(n, dtype=bool)
    for c in constraints:
        ok &= c.satisfied(values[c.output].to_numpy().reshape(n, m), rtol).all(axis=1)
    return ok


def _objective(values: pd.DataFrame, obj: Objective, w: np.ndarray, n: int, m: int) -> np.ndarray:
    return sum(c * (values[name].to_numpy().reshape(n, m) * w[None]).sum(axis=1) for name, c in obj.weights.items())
