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
from .descent import Problem, evaluate, run
from .problem import Constraint, Objective, parse_objective
from .results import SearchResult
from .surrogate import SearchSurrogate

MU = 1000.0  # weight of squared log constraint violations: a 1% violation costs 0.1 (in log units)
RECOVER_MIN_DIST = 0.05
IDENTIFY_KEEP = 4  # best points per categorical combination that go on to the polish
IDENTIFY_HOPS = 4  # rounds of perturb-and-polish after the first polish (descent._hop)
IDENTIFY_SCREEN = 2048  # random grid points scored for identify (see descent._screen)  # unit-cube distance between returned recover candidates (diversity)


@dataclass(frozen=True)
class RecoverQuery:
    """A network and the power(s) to reproduce, e.g. ``{"P": 1.3}`` or ``{"P_core": .8, "P_bw": .4}``."""

    net: Any
    target: dict[str, float]
    name: str = ""


def _problem(ctx: SearchContext, sur: SearchSurrogate, net_index: torch.Tensor, fixed: dict, loss, seed: int) -> Problem:
    """The same starts for every group (row of ``net_index`` (G, M))."""
    norm, combo, lo, hi = ctx.start_points(sur, fixed, seed)
    G, S = net_index.shape[0], len(combo)
    return Problem(
        start_norm=norm.repeat(G, 1), combo=combo.repeat(G),
        net_index=net_index.repeat_interleave(S, dim=0),
        idx_lo=torch.as_tensor(lo).repeat(G * S, 1), idx_hi=torch.as_tensor(hi).repeat(G * S, 1),
        loss=loss, group=torch.arange(G).repeat_interleave(S),
    )


def _predict(sur: SearchSurrogate, hw: pd.DataFrame, net_index: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Predicted outputs (physical units) of hardware rows on ``nets[net_index]``; (N, M) -> long."""
    index, combo = sur.frame_to_state(hw)
    with torch.no_grad():
        out = evaluate(sur, sur.index_to_norm(index), combo, torch.as_tensor(net_index).reshape(len(hw), -1))
    return pd.DataFrame({n: out[n].exp().reshape(-1).numpy().astype(float) for n in names})


def _oracle(ctx: SearchContext, nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
    if ctx.oracle is None:
        raise InputError("verification needs an oracle, and none was given")
    return ctx.oracle.evaluate_many(list(nets), np.asarray(net_index), hw.reset_index(drop=True)).reset_index(drop=True)


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


def _hw(frame: pd.DataFrame, sur: SearchSurrogate) -> pd.DataFrame:
    return frame[list(sur.view.order)].reset_index(drop=True)


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

    prob = _problem(ctx, sur, torch.arange(len(queries))[:, None], fixed, loss, seed)
    cands = ctx.domain.annotate(run(sur, prob, ctx.config))
    cands = cands.sort_values(["group", "in_domain", "loss"], ascending=[True, False, True], kind="stable")
    picked = _pick(cands, sur, top_k, RECOVER_MIN_DIST)
    hw = _hw(picked, sur)
    net_index = picked["group"].to_numpy().copy()
    pred = _predict(sur, hw, net_index, names)
    elapsed = time.perf_counter() - t0
    out = pd.DataFrame({"query": [queries[g].name or str(g) for g in net_index], "rank": picked["rank"].to_numpy()})
    out = pd.concat([out, hw], axis=1)
    for n in names:
        target = np.array([queries[g].target[n] for g in net_index])
        out[f"target_{n}"] = target
        out[f"pred_{n}"] = pred[n]
        out[f"pred_err_{n}_pct"] = 100 * (pred[n] / target - 1)
    if verify:
        orc = _oracle(ctx, sur.nets, net_index, hw)
        for n in names:
            out[f"oracle_{n}"] = orc[n].to_numpy()
            out[f"oracle_err_{n}_pct"] = 100 * (orc[n].to_numpy() / out[f"target_{n}"] - 1)
    out["ood_score"] = picked["ood_score"].to_numpy()
    out["in_domain"] = picked["in_domain"].to_numpy()
    meta = _meta(ctx, prob, elapsed, targets=names, fixed=fixed, verify=verify)
    return SearchResult("recover", out, {}, meta, list(sur.view.order))


def identify(ctx: SearchContext, nets: Sequence[Any], measured: pd.DataFrame, *, names: Sequence[str] | None = None,
             fixed: dict | None = None, top_k: int = 10, verify: bool = False, tol_pct: float = 1.0,
             seed: int = 0) -> SearchResult:
    """Parameters of one unknown accelerator from the powers of several networks measured on it.

    ``measured``: one row per network (aligned with ``nets``), output columns (``P_core``,
    ``P_bw`` or ``P``...). ``tol_pct``: solutions whose RMS predicted error is within this many
    percentage points of the best count as equally good, and give each parameter's spread.
    """
    fixed = fixed or {}
    outs = [c for c in measured.columns if c in ("P", "P_core", "P_bw", "latency_ms", "energy_mj")]
    if not outs or len(measured) != len(nets):
        raise InputError(f"identify needs one row of measured outputs per network; got {len(measured)} rows for {len(nets)} networks and outputs {outs}")
    t0 = time.perf_counter()
    sur = ctx.surrogate(nets)
    sur.require(outs, "identify")
    log_meas = torch.log(torch.tensor(measured[outs].to_numpy(dtype=float), dtype=torch.float32))  # (M, T)

    def loss(out: dict[str, torch.Tensor], start: torch.Tensor) -> torch.Tensor:
        return torch.stack([(out[n] - log_meas[:, i]) ** 2 for i, n in enumerate(outs)], -1).mean(dim=(1, 2))

    prob = _problem(ctx, sur, torch.arange(len(nets))[None, :], fixed, loss, seed)
    # one joint fit is multimodal (corners of the grid, traded resources): screen and polish more
    cfg = replace(ctx.config, screen=max(ctx.config.screen, IDENTIFY_SCREEN), polish_keep=IDENTIFY_KEEP, polish_per_combo=True,
                  polish_rounds=max(ctx.config.polish_rounds, 30), hops=max(ctx.config.hops, IDENTIFY_HOPS))
    cands = ctx.domain.annotate(run(sur, prob, cfg))
    cands["rms_err_pct"] = 100 * np.sqrt(cands["loss"].to_numpy())
    cands = cands.sort_values(["in_domain", "loss"], ascending=[False, True], kind="stable").reset_index(drop=True)
    good = cands[cands["rms_err_pct"] <= cands["rms_err_pct"].min() + tol_pct]
    spread = _spread(good, sur)
    picked = cands.head(top_k)
    hw = _hw(picked, sur)
    elapsed = time.perf_counter() - t0
    out = pd.concat([pd.DataFrame({"rank": np.arange(1, len(picked) + 1)}), hw], axis=1)
    out["pred_rms_err_pct"] = picked["rms_err_pct"].to_numpy()
    labels = list(names) if names is not None else [str(i) for i in range(len(nets))]
    M = len(nets)
    rows = np.repeat(np.arange(len(hw)), M)
    pred = _predict(sur, hw, np.tile(np.arange(M), len(hw)), outs)
    pred_err = pred.to_numpy() / np.tile(measured[outs].to_numpy(dtype=float), (len(hw), 1)) - 1
    out["pred_max_err_pct"] = 100 * np.abs(pred_err).reshape(len(hw), -1).max(axis=1)
    details = pd.DataFrame({"rank": rows + 1, "network": np.tile(labels, len(hw))})
    for i, n in enumerate(outs):
        details[f"measured_{n}"] = np.tile(measured[n].to_numpy(dtype=float), len(hw))
        details[f"pred_{n}"] = pred[n].to_numpy()
    if verify:
        orc = _oracle(ctx, nets, np.tile(np.arange(M), len(hw)), hw.iloc[rows])
        oerr = orc[outs].to_numpy() / details[[f"measured_{n}" for n in outs]].to_numpy() - 1
        for i, n in enumerate(outs):
            details[f"oracle_{n}"] = orc[n].to_numpy()
        out["oracle_max_err_pct"] = 100 * np.abs(oerr).reshape(len(hw), -1).max(axis=1)
    out["ood_score"] = picked["ood_score"].to_numpy()
    out["in_domain"] = picked["in_domain"].to_numpy()
    meta = _meta(ctx, prob, elapsed, outputs=outs, fixed=fixed, verify=verify, n_equally_good=len(good), tol_pct=tol_pct)
    return SearchResult("identify", out, {"spread": spread, "details": details[details["rank"] == 1]}, meta,
                        list(sur.view.order))


def _spread(good: pd.DataFrame, sur: SearchSurrogate) -> pd.DataFrame:
    """How well each parameter is determined across the equally good solutions."""
    rows = []
    best = good.iloc[0]
    for name in sur.view.order:
        vals = good[name]
        numeric = name in sur.view.numeric
        rel = float((vals.max() - vals.min()) / best[name]) if numeric else float("nan")
        rows.append({"parameter": name, "best": str(best[name]), "min": str(vals.min()), "max": str(vals.max()),
                     "n_values": int(vals.nunique()), "rel_spread_pct": 100 * rel if numeric else float("nan"),
                     "determined": bool(vals.nunique() == 1)})
    return pd.DataFrame(rows)


def design(ctx: SearchContext, nets: Sequence[Any], *, weights: Sequence[float] | None = None,
           objective: Objective | str = "P", constraints: Sequence[Constraint] = (), fixed: dict | None = None,
           top_k: int = 8, verify: bool = False, names: Sequence[str] | None = None, slack_pct: float = 2.0,
           seed: int = 0, objectives: Sequence[str] | str | None = None, budget: int = 500) -> SearchResult:
    """Minimize ``objective`` (weighted over ``nets``) subject to ``constraints`` on every network.

    Returns ``top_k`` candidates: the best predicted-feasible ones and, for up to half of them,
    the best that miss a constraint by at most ``slack_pct`` percent in prediction (the optimum
    usually sits on a constraint, where a 1% predictor error decides feasibility). With
    ``verify`` the oracle evaluates them (``top_k x len(nets)`` oracle calls) and
    ``meta["best"]`` is the best oracle-feasible one. Fewer candidates than ``top_k`` (when the
    search finds fewer distinct configurations) are explained in ``meta["note"]``; when none is
    oracle-feasible, ``meta["binding_constraint"]`` names the constraint most of them miss.

    With ``objectives`` (2 or 3 of P, latency_ms, energy_mj, area_mm2 ...) it returns the Pareto
    front instead (:func:`.pareto_design.design_front`, ``budget`` oracle calls; ``result.front``).
    """
    if objectives is not None:
        from .pareto_design import design_front
        return design_front(ctx, nets, objectives, weights=weights, constraints=constraints, fixed=fixed,
                            budget=budget, verify=verify, names=names, slack_pct=slack_pct, seed=seed)
    if any(c.output == "area_mm2" for c in constraints):
        raise InputError("a constraint on area_mm2 needs the Pareto design (objectives=[...], --objectives)")
    fixed = fixed or {}
    obj = parse_objective(objective) if isinstance(objective, str) else objective
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(nets), dtype=torch.float32)
    if len(w) != len(nets) or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"need one non-negative weight per network ({len(nets)}), not all zero; got {w.tolist()}")
    t0 = time.perf_counter()
    sur = ctx.surrogate(nets)
    outs = sorted(set(obj.weights) | {c.output for c in constraints})
    sur.require(outs, "design")

    def objective_log(out: dict[str, torch.Tensor]) -> torch.Tensor:
        total = sum(c * (out[n].exp() * w).sum(dim=1) for n, c in obj.weights.items())
        return torch.log(total)

    def violation(out: dict[str, torch.Tensor]) -> torch.Tensor:
        v = torch.zeros(next(iter(out.values())).shape[0])
        for c in constraints:
            gap = out[c.output] - np.log(c.limit)
            v = v + (torch.relu(gap if c.op == "<=" else -gap) ** 2).sum(dim=1)
        return v

    def loss(out: dict[str, torch.Tensor], start: torch.Tensor) -> torch.Tensor:
        return objective_log(out) + MU * violation(out)

    prob = _problem(ctx, sur, torch.arange(len(nets))[None, :], fixed, loss, seed)
    cands = ctx.domain.annotate(run(sur, prob, ctx.config))
    M = len(nets)
    hw_all = _hw(cands, sur)
    pred_all = _predict(sur, hw_all, np.tile(np.arange(M), len(hw_all)), outs)
    cands["pred_feasible"] = _feasible(pred_all, constraints, len(hw_all), M)
    near = _feasible(pred_all, constraints, len(hw_all), M, rtol=slack_pct / 100) & ~cands["pred_feasible"].to_numpy()
    cands["pred_objective"] = _objective(pred_all, obj, w.numpy(), len(hw_all), M)
    cands = cands.sort_values(["in_domain", "pred_objective"], ascending=[False, True], kind="stable")
    near = near[cands.index.to_numpy()]
    feasible = cands[cands["pred_feasible"].to_numpy()]
    n_near = min(top_k // 2, int(near.sum())) if len(feasible) else top_k
    picked = pd.concat([feasible.head(top_k - n_near), cands[near].head(n_near)])
    if len(picked) < top_k:  # too few (near-)feasible ones: fill with the best of the rest
        picked = pd.concat([picked, cands.drop(index=picked.index).head(top_k - len(picked))])
    note = None if len(picked) == top_k else f"the search found only {len(picked)} distinct configurations (asked for {top_k})"
    picked = picked.sort_values(["pred_feasible", "in_domain", "pred_objective"], ascending=[False, False, True],
                                kind="stable").reset_index(drop=True)
    hw = _hw(picked, sur)
    elapsed = time.perf_counter() - t0
    out = pd.concat([pd.DataFrame({"rank": np.arange(1, len(picked) + 1)}), hw], axis=1)
    out["pred_objective"] = picked["pred_objective"].to_numpy()
    out["pred_feasible"] = picked["pred_feasible"].to_numpy()
    pred = _predict(sur, hw, np.tile(np.arange(M), len(hw)), outs)
    labels = list(names) if names is not None else [str(i) for i in range(M)]
    details = pd.DataFrame({"rank": np.repeat(np.arange(1, len(hw) + 1), M), "network": np.tile(labels, len(hw))})
    for n in outs:
        details[f"pred_{n}"] = pred[n].to_numpy()
    meta = _meta(ctx, prob, elapsed, objective=str(obj), constraints=[str(c) for c in constraints], fixed=fixed,
                 verify=verify, note=note)
    if verify:
        orc = _oracle(ctx, nets, np.tile(np.arange(M), len(hw)), hw.iloc[np.repeat(np.arange(len(hw)), M)])
        for n in outs:
            details[f"oracle_{n}"] = orc[n].to_numpy()
        out["oracle_objective"] = _objective(orc, obj, w.numpy(), len(hw), M)
        out["oracle_feasible"] = _feasible(orc, constraints, len(hw), M)
        ok = out[out["oracle_feasible"]]
        meta["best"] = None if ok.empty else ok.sort_values("oracle_objective").iloc[0][list(sur.view.order)].to_dict()
        meta["best_oracle_objective"] = None if ok.empty else float(ok["oracle_objective"].min())
        meta["oracle_calls"] = len(hw) * M
        if ok.empty and constraints:
            from .pareto_design import binding
            meta["binding_constraint"] = binding(orc, constraints, len(hw), M, np.zeros(len(hw)))
    out["ood_score"] = picked["ood_score"].to_numpy()
    out["in_domain"] = picked["in_domain"].to_numpy()
    return SearchResult("design", out, {"details": details}, meta, list(sur.view.order))


def _feasible(values: pd.DataFrame, constraints: Sequence[Constraint], n: int, m: int, rtol: float = 0.0) -> np.ndarray:
    ok = np.ones(n, dtype=bool)
    for c in constraints:
        ok &= c.satisfied(values[c.output].to_numpy().reshape(n, m), rtol).all(axis=1)
    return ok


def _objective(values: pd.DataFrame, obj: Objective, w: np.ndarray, n: int, m: int) -> np.ndarray:
    return sum(c * (values[name].to_numpy().reshape(n, m) * w[None]).sum(axis=1) for name, c in obj.weights.items())


def _meta(ctx: SearchContext, prob: Problem, elapsed: float, **extra: Any) -> dict[str, Any]:
    return {
        "search_time_s": round(elapsed, 4),
        "n_starts": int(len(prob.combo)),
        "k_means_k": ctx.starts.k,
        "k_choice": ctx.starts.choice.to_dict() if ctx.starts.choice else None,
        "n_random_starts": ctx.n_random,
        "steps": ctx.config.steps,
        "domain": "training-data bounds; ood_score = nearest-training-point distance / its 99th percentile among training points",
        **extra,
    }
