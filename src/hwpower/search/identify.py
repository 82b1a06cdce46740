"""identify: which hardware produced these measurements? A surrogate search proposes candidates;
with ``verify`` the truth (the oracle) checks many of them and refines the best on the grid.

Data flows one way: measurements -> surrogate search (frozen predictor, batched descent, screening,
polish; :mod:`.descent`) -> ranked surrogate candidates -> truth verification of the best distinct
ones -> exact local search on the grid with the truth (greedy: one parameter to any grid value, two
parameters one step each, another categorical combination) from the best verified ones -> ranked by
the truth's worst error. :func:`answer_set` is the exhaustive yardstick: every grid configuration
that reproduces all measurements within a tolerance, by one oracle sweep filtered network by network.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .context import SearchContext
from .descent import run
from .gridview import GridView
from .results import SearchResult
from .steps import candidate_hardware, oracle_outputs, predict_outputs, search_meta, search_problem
from .surrogate import SearchSurrogate

IDENTIFY_KEEP = 4  # best points per categorical combination that go on to the polish
IDENTIFY_HOPS = 4  # rounds of perturb-and-polish after the first polish (descent._hop)
IDENTIFY_SCREEN = 2048  # random grid points scored for identify (see descent._screen)
OUTPUTS = ("P", "P_core", "P_bw", "latency_ms", "energy_mj")
LIGHT_STEPS, LIGHT_SCREEN, LIGHT_POLISH = 50, 1024, 5  # the surrogate search before the truth's refinement
TRUTH_VERIFY = 48  # distinct surrogate candidates checked by the truth
TRUTH_STARTS = 6  # best verified ones the truth's local search starts from
TRUTH_RANDOM, RANDOM_STARTS = 48, 3  # random grid configurations verified too, and how many of them start a search
TRUTH_BUDGET = 100000  # oracle calls (configurations x networks) for verification and refinement
TRUTH_HOPS = 60  # iterated local search rounds while no configuration reproduces the measurements ...
EXACT_PCT = 0.01  # ... within this (an exact fit; noisy measurements use every round, within the budget)


def identify(ctx: SearchContext, nets: Sequence[Any], measured: pd.DataFrame, *, names: Sequence[str] | None = None,
             fixed: dict | None = None, top_k: int = 10, verify: bool = False, tol_pct: float = 1.0,
             seed: int = 0, refine: bool = True, truth_budget: int = TRUTH_BUDGET, match_pct: float = 2.0,
             exhaustive: bool = False, surrogate_effort: str | None = None) -> SearchResult:
    """Parameters of one unknown accelerator from the outputs of several networks measured on it.

    ``measured``: one row per network (aligned with ``nets``), output columns (``P_core``,
    ``P_bw``, ``P``, ``latency_ms``...). Without ``verify``: the surrogate's best ``top_k``;
    ``tol_pct``: solutions whose RMS predicted error is within this many percentage points of the
    best count as equally good and give each parameter's spread. With ``verify`` (and ``refine``)
    the truth checks the best distinct surrogate candidates and refines them by an exact local
    search on the grid, then explore the neighbours of every configuration within ``match_pct``
    (at most ``truth_budget`` oracle calls in all); candidates are then ranked by the truth's worst
    error, and the spread is taken over the verified ones within ``match_pct`` (the answer set found).
    ``exhaustive``: also sweep the whole grid with the truth for the complete answer set
    (``tables["answer_set"]``, :func:`answer_set`). ``surrogate_effort``: ``"full"`` (per-combination
    polish, 30 rounds, iterated local search; the default without truth refinement) or ``"light"``
    (50 Adam steps, 1,024 screened points, 5 polish rounds; the default with it).
    """
    fixed = fixed or {}
    if surrogate_effort not in (None, "full", "light"):
        raise InputError(f"surrogate_effort must be 'full' or 'light', not {surrogate_effort!r}")
    outs = [c for c in measured.columns if c in OUTPUTS]
    if not outs or len(measured) != len(nets):
        raise InputError(f"identify needs one row of measured outputs per network; got {len(measured)} rows for {len(nets)} networks and outputs {outs}")
    meas = measured[outs].to_numpy(dtype=float)
    t0 = time.perf_counter()
    sur = ctx.surrogate(nets)
    sur.require(outs, "identify")
    import torch

    log_meas = torch.log(torch.tensor(meas, dtype=torch.float32))  # (M, T)

    def loss(out: dict[str, torch.Tensor], start: torch.Tensor) -> torch.Tensor:
        return torch.stack([(out[n] - log_meas[:, i]) ** 2 for i, n in enumerate(outs)], -1).mean(dim=(1, 2))

    prob = search_problem(ctx, sur, torch.arange(len(nets))[None, :], fixed, loss, seed)
    refining = verify and refine
    if (surrogate_effort or ("light" if refining else "full")) == "full":
        # one joint fit is multimodal (corners of the grid, traded resources): screen and polish more
        cfg = replace(ctx.config, screen=max(ctx.config.screen, IDENTIFY_SCREEN), polish_keep=IDENTIFY_KEEP, polish_per_combo=True,
                      polish_rounds=max(ctx.config.polish_rounds, 30), hops=max(ctx.config.hops, IDENTIFY_HOPS))
    else:  # the truth's local search does the fine work: the surrogate only needs to find the basins
        cfg = replace(ctx.config, steps=LIGHT_STEPS, screen=max(ctx.config.screen, LIGHT_SCREEN), polish_rounds=LIGHT_POLISH)
    cands = ctx.domain.annotate(run(sur, prob, cfg))
    cands["rms_err_pct"] = 100 * np.sqrt(cands["loss"].to_numpy())
    cands = cands.sort_values(["in_domain", "loss"], ascending=[False, True], kind="stable").reset_index(drop=True)
    surrogate_s = time.perf_counter() - t0
    extra: dict[str, Any] = {"surrogate_s": round(surrogate_s, 4), "surrogate_effort": "full" if cfg.hops else "light"}
    truth = None
    if refining:
        truth = TruthFit(ctx, nets, measured[outs], fixed)
        # hop on until the fit is exact: a look-alike within match_pct may hide the exact configuration
        truth.refine(candidate_hardware(cands, sur).head(TRUTH_VERIFY), truth_budget, goal_pct=EXACT_PCT,
                     seed=seed, random=TRUTH_RANDOM)
        truth.expand(match_pct, truth_budget)
        checked = truth.seen()
        extra.update(truth.first, oracle_calls=truth.calls, truth_s=round(time.perf_counter() - t0 - surrogate_s, 4))
        picked = checked.head(top_k)
        good = checked[checked["oracle_max_err_pct"] <= match_pct]
        spread = _spread(good if len(good) else checked.head(1), sur)
        n_good = len(good)
    else:
        good = cands[cands["rms_err_pct"] <= cands["rms_err_pct"].min() + tol_pct]
        spread = _spread(good, sur)
        picked = cands.head(top_k)
        n_good = len(good)
    hw = candidate_hardware(picked, sur)
    M = len(nets)
    pred = predict_outputs(sur, hw, np.tile(np.arange(M), len(hw)), outs)
    pred_err = pred.to_numpy() / np.tile(meas, (len(hw), 1)) - 1
    out = pd.concat([pd.DataFrame({"rank": np.arange(1, len(picked) + 1)}), hw], axis=1)
    out["pred_rms_err_pct"] = 100 * np.sqrt((np.log1p(pred_err) ** 2).reshape(len(hw), -1).mean(axis=1))
    out["pred_max_err_pct"] = 100 * np.abs(pred_err).reshape(len(hw), -1).max(axis=1)
    labels = list(names) if names is not None else [str(i) for i in range(M)]
    rows = np.repeat(np.arange(len(hw)), M)
    details = pd.DataFrame({"rank": rows + 1, "network": np.tile(labels, len(hw))})
    for i, n in enumerate(outs):
        details[f"measured_{n}"] = np.tile(meas[:, i], len(hw))
        details[f"pred_{n}"] = pred[n].to_numpy()
    if verify:
        orc = oracle_outputs(ctx, nets, np.tile(np.arange(M), len(hw)), hw.iloc[rows])
        oerr = orc[outs].to_numpy() / details[[f"measured_{n}" for n in outs]].to_numpy() - 1
        for n in outs:
            details[f"oracle_{n}"] = orc[n].to_numpy()
        out["oracle_max_err_pct"] = 100 * np.abs(oerr).reshape(len(hw), -1).max(axis=1)
    annotated = ctx.domain.annotate(hw)
    out["ood_score"] = annotated["ood_score"].to_numpy()
    out["in_domain"] = annotated["in_domain"].to_numpy()
    tables = {"spread": spread, "details": details[details["rank"] == 1]}
    if exhaustive:
        tables["answer_set"] = answer_set(ctx.oracle, ctx.space, nets, measured[outs], tol_pct=match_pct, fixed=fixed)
        extra["answer_set_size"] = len(tables["answer_set"])
    elapsed = time.perf_counter() - t0
    meta = search_meta(ctx, prob, elapsed, outputs=outs, fixed=fixed, verify=verify, n_equally_good=n_good,
                       tol_pct=match_pct if truth is not None else tol_pct, **extra)
    return SearchResult("identify", out, tables, meta, list(sur.view.order))


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


class TruthFit:
    """The truth's fit of grid configurations to the measurements, cached, with its call count.

    A configuration is (numeric grid indices, categorical combination id); its error is
    ``log(truth / measured)`` over every network and output: ``msle`` (mean square, what the local
    search descends) and ``max_err_pct`` (the worst relative error, what the answer is ranked by).
    """

    def __init__(self, ctx: SearchContext, nets: Sequence[Any], measured: pd.DataFrame, fixed: dict):
        if ctx.oracle is None:
            raise InputError("verification needs an oracle, and none was given")
        self.oracle, self.nets, self.view = ctx.oracle, list(nets), GridView.from_space(ctx.space)
        self.outs = list(measured.columns)
        self.log_meas = np.log(measured.to_numpy(dtype=float))  # (M, T)
        self.combos = self.view.combos(fixed)
        self.lo = np.zeros(len(self.view.numeric), np.int64)
        self.hi = self.view.n_grid() - 1
        for j, (name, grid) in enumerate(zip(self.view.numeric, self.view.grids)):
            if name in fixed:
                self.lo[j] = self.hi[j] = int(np.flatnonzero(np.isclose(grid, float(fixed[name])))[0])
        self.cache: dict[bytes, tuple[float, float]] = {}
        self.calls = 0

    def state(self, hw: pd.DataFrame) -> np.ndarray:
        """Hardware rows -> (N, Nn + 1) states: grid indices and the combination id (-1: not allowed)."""
        keys = [tuple(str(c[n]) for n in self.view.categorical) for c in self.combos]
        cat = hw[list(self.view.categorical)].astype(str).agg(tuple, axis=1)
        combo = np.array([keys.index(k) if k in keys else -1 for k in cat], dtype=np.int64)
        return np.column_stack([self.view.grid_index(hw), combo])

    def frame(self, states: np.ndarray) -> pd.DataFrame:
        cats = pd.DataFrame([self.combos[c] for c in states[:, -1]], columns=list(self.view.categorical))
        return self.view.frame(self.view.from_index(states[:, :-1]), cats)

    def score(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(msle, max_err_pct) of each state, calling the truth for the ones not seen yet."""
        states = np.asarray(states, dtype=np.int64).reshape(-1, len(self.lo) + 1)
        keys = [s.tobytes() for s in states]
        new = sorted({k: i for i, k in enumerate(keys) if k not in self.cache}.values())
        if new:
            M = len(self.nets)
            hw = self.frame(states[new])
            orc = self.oracle.evaluate_many(self.nets, np.tile(np.arange(M), len(new)),
                                            hw.iloc[np.repeat(np.arange(len(new)), M)].reset_index(drop=True))
            self.calls += len(new) * M
            err = np.log(orc[self.outs].to_numpy(dtype=float).reshape(len(new), M, -1)) - self.log_meas[None]
            msle = (err ** 2).mean(axis=(1, 2))
            worst = 100 * np.abs(np.expm1(err)).reshape(len(new), -1).max(axis=1)
            for i, m, w in zip(new, msle, worst):
                self.cache[keys[i]] = (float(m), float(w))
        vals = np.array([self.cache[k] for k in keys]).reshape(-1, 2)
        return vals[:, 0], vals[:, 1]

    def moves(self, s: np.ndarray) -> np.ndarray:
        """Every neighbour of state ``s``: one parameter to any grid value, two by one step, another combination."""
        out = []
        for j in range(len(self.lo)):
            for v in range(self.lo[j], self.hi[j] + 1):
                if v != s[j]:
                    t = s.copy()
                    t[j] = v
                    out.append(t)
        for j, k in itertools.combinations(range(len(self.lo)), 2):
            for dj, dk in itertools.product((-1, 1), repeat=2):
                t = s.copy()
                t[j] += dj
                t[k] += dk
                if self.lo[j] <= t[j] <= self.hi[j] and self.lo[k] <= t[k] <= self.hi[k]:
                    out.append(t)
        for c in range(len(self.combos)):
            if c != s[-1]:
                t = s.copy()
                t[-1] = c
                out.append(t)
        return np.array(out, dtype=np.int64)

    def refine(self, hw: pd.DataFrame, budget: int, goal_pct: float = 0.0, seed: int = 0, random: int = 0) -> pd.DataFrame:
        """Verify ``hw`` (in order, distinct, as far as the budget allows) and ``random`` random grid
        configurations, then greedy local search from the best ``TRUTH_STARTS`` of ``hw`` and the best
        ``RANDOM_STARTS`` random ones until none improves; then, while the best misses ``goal_pct``,
        up to ``TRUTH_HOPS`` rounds of iterated local search (two numeric parameters of one of the 3
        best redrawn at random, a quarter of the time another combination too; every third round a
        random configuration instead; descend again). Stops
        when the budget is spent. Returns every configuration the truth saw, best first."""
        states = self.state(hw)
        states = states[states[:, -1] >= 0]
        _, first = np.unique(states, axis=0, return_index=True)
        states = states[np.sort(first)][: max(1, budget // len(self.nets))]
        msle, worst = self.score(states)
        self.first = {"surrogate_rank1_oracle_max_err_pct": float(worst[0]),
                      "verified_best_oracle_max_err_pct": float(worst.min()), "n_verified": len(states)}
        rng = np.random.default_rng(seed)
        starts = states[np.argsort(msle, kind="stable")[:TRUTH_STARTS]]
        if random > 0 and self.calls + random * len(self.nets) <= budget:  # a few basins the proposals may all miss
            rand = np.column_stack([rng.integers(self.lo, self.hi + 1, (random, len(self.lo))), rng.integers(len(self.combos), size=random)])
            m_rand, _ = self.score(rand)
            starts = np.vstack([starts, rand[np.argsort(m_rand, kind="stable")[:RANDOM_STARTS]]])
        if not self._descend(starts, budget):
            return self.seen()
        for hop in range(TRUTH_HOPS):  # iterated local search: perturb one of the best, descend again
            best = self.seen()
            if best.oracle_max_err_pct.iloc[0] <= goal_pct:
                break
            s = self.state(best.iloc[[int(rng.integers(min(3, len(best))))]])[0]
            for j in rng.choice(len(self.lo), 2, replace=False):
                s[j] = rng.integers(self.lo[j], self.hi[j] + 1)
            if rng.random() < 0.25:
                s[-1] = rng.integers(len(self.combos))
            if hop % 3 == 2:  # every third round a fresh random configuration: another basin altogether
                s = np.append(rng.integers(self.lo, self.hi + 1), rng.integers(len(self.combos)))
            if not self._descend(s[None], budget):
                break
        return self.seen()

    def _descend(self, current: np.ndarray, budget: int) -> bool:
        """Greedy best-improvement moves from each state until none improves; False once out of budget."""
        current = current.copy()
        active = np.ones(len(current), bool)
        while active.any():
            for i in np.flatnonzero(active):
                nb = self.moves(current[i])
                fresh = sum(k.tobytes() not in self.cache for k in nb) + (current[i].tobytes() not in self.cache)
                if self.calls + fresh * len(self.nets) > budget:
                    return False
                m_nb, _ = self.score(nb)
                m_here, _ = self.score(current[i])
                b = int(np.argmin(m_nb))
                if m_nb[b] < m_here[0]:
                    current[i] = nb[b]
                else:
                    active[i] = False
        return True

    def expand(self, match_pct: float, budget: int) -> None:
        """Flood fill of the answer set from what was seen: the neighbours of every configuration
        within ``match_pct`` are scored, repeatedly, while new ones join it and the budget lasts."""
        done: set[bytes] = set()
        while True:
            todo = [k for k, (_, w) in self.cache.items() if w <= match_pct and k not in done]
            if not todo:
                return
            for k in todo:
                nb = self.moves(np.frombuffer(k, dtype=np.int64).copy())
                if self.calls + sum(n.tobytes() not in self.cache for n in nb) * len(self.nets) > budget:
                    return
                self.score(nb)
                done.add(k)

    def seen(self) -> pd.DataFrame:
        """Every configuration scored so far with its truth errors, best first."""
        states = np.array([np.frombuffer(k, dtype=np.int64) for k in self.cache])
        vals = np.array(list(self.cache.values()))
        out = self.frame(states)
        out["oracle_msle"], out["oracle_max_err_pct"] = vals[:, 0], vals[:, 1]
        return out.sort_values(["oracle_max_err_pct", "oracle_msle"], kind="stable").reset_index(drop=True)


def answer_set(oracle: Any, space: Any, nets: Sequence[Any], measured: pd.DataFrame, *, tol_pct: float = 2.0,
               fixed: dict | None = None) -> pd.DataFrame:
    """Every grid configuration of ``space`` whose truth reproduces every measured output of every
    network within ``tol_pct`` percent: one oracle sweep of the grid on the first network, then
    each further network only on the survivors. Columns: hardware, ``oracle_max_err_pct``."""
    outs = [c for c in measured.columns if c in (*OUTPUTS, "area_mm2")]
    if not outs or len(measured) != len(nets):
        raise InputError(f"answer_set needs one row of measured outputs per network; got {len(measured)} rows for {len(nets)} networks and outputs {outs}")
    grid = space.grid_frame()
    for name, value in (fixed or {}).items():
        grid = grid[grid[name].astype(str) == str(value)]
    grid = grid.reset_index(drop=True)
    worst = np.zeros(len(grid))
    tol = tol_pct / 100
    for i, net in enumerate(nets):
        got = oracle.evaluate(net, grid).reset_index(drop=True)
        err = np.abs(got[outs].to_numpy(dtype=float) / measured[outs].to_numpy(dtype=float)[i] - 1).max(axis=1)
        keep = err <= tol
        grid, worst = grid[keep].reset_index(drop=True), np.maximum(worst[keep], err[keep])
        if grid.empty:
            break
    grid["oracle_max_err_pct"] = 100 * worst
    return grid.sort_values("oracle_max_err_pct", kind="stable").reset_index(drop=True)
