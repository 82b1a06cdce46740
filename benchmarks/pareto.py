"""Pareto design benchmark (issue 14): hwpower's multi-objective design (surrogate candidates, every
front point verified by the oracle; ``hwpower`` verifies in rounds chosen for hypervolume,
``hwpower-ranks`` is the earlier one-shot selection by predicted non-dominated rank) against
optuna's NSGA-II, random search and weighted scalarizations (TPE) on the oracle, each with 500,
1,000 and 2,000 oracle calls, scored by the hypervolume of its front relative to the exact front of
the grid (every grid point swept by the oracle).

    .venv/bin/python benchmarks/pareto.py --run RUN_DIR [--data PROCESSED_DIR] [--quick] [--seeds N] [--nets N]

Objectives P (W), latency_ms (ms) and area_mm2 (mm^2) of one network; the hypervolume is measured on
the log of each objective (they span decades), normalized by the exact front's ideal and nadir points, reference point 1.1 in every
coordinate (``hwpower.search.pareto.REF``); the ratio is found / exact (1.0 = the exact front).
Prints progress on stderr, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from rich.console import Console

from hwpower.networks.jsonio import read_networks
from hwpower.search.pareto_design import design_front
from hwpower.search.gridview import GridView
from hwpower.search.pareto import exact_front, hypervolume, nondominated, normalize
from hwpower.search.run_context import load_context

console = Console(stderr=True)
OBJECTIVES = ["P", "latency_ms", "area_mm2"]
BUDGETS = (500, 1000, 2000)


def _front(F: np.ndarray) -> np.ndarray:
    return F[nondominated(F)] if len(F) else F


def _objectives(oracle, net, hw: pd.DataFrame) -> np.ndarray:
    return oracle.evaluate(net, hw.reset_index(drop=True))[OBJECTIVES].to_numpy(float)


def random_front(oracle, space, net, budget: int, seed: int) -> np.ndarray:
    """``budget`` uniform grid points on the oracle; their front."""
    view = GridView.from_space(space)
    rng = np.random.default_rng(seed)
    index = np.column_stack([rng.integers(0, len(g), budget) for g in view.grids])
    cats = pd.DataFrame({n: rng.choice(np.array(v, dtype=object), budget) for n, v in view.categorical.items()})
    return _front(_objectives(oracle, net, view.frame(view.from_index(index), cats)))


def nsga2_front(oracle, space, net, budget: int, seed: int, population: int = 50) -> np.ndarray:
    """Optuna's NSGA-II (numeric parameters as ordered grid indices), evaluated a generation at a time."""
    view = GridView.from_space(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize"] * len(OBJECTIVES),
                                sampler=optuna.samplers.NSGAIISampler(population_size=population, seed=seed))
    seen: list[np.ndarray] = []
    done = 0
    while done < budget:
        trials = [study.ask() for _ in range(min(population, budget - done))]
        rows = []
        for t in trials:
            idx = [t.suggest_int(n, 0, len(g) - 1) for n, g in zip(view.numeric, view.grids)]
            cats = {n: t.suggest_categorical(n, list(v)) for n, v in view.categorical.items()}
            rows.append((idx, cats))
        hw = view.frame(view.from_index(np.array([r[0] for r in rows])), pd.DataFrame([r[1] for r in rows]))
        F = _objectives(oracle, net, hw)
        for t, f in zip(trials, F):
            study.tell(t, f.tolist())
        seen.append(F)
        done += len(F)
    return _front(np.vstack(seen))


def hwpower_front(ctx, net, budget: int, seed: int, sequential: bool = True) -> np.ndarray:
    r = design_front(ctx, [net], OBJECTIVES, budget=budget, verify=True, seed=seed, sequential=sequential)
    assert r.meta["oracle_calls"] <= budget, r.meta
    return r.front[[f"oracle_{o}" for o in OBJECTIVES]].to_numpy(float)


def scalarized_front(oracle, space, net, budget: int, seed: int, n_weights: int = 10) -> np.ndarray:
    """Single-objective scalarizations: ``n_weights`` weight vectors spread on the simplex, each an
    optuna TPE study of ``budget / n_weights`` oracle calls minimizing the weighted sum of the log
    objectives; the front of every point evaluated."""
    view = GridView.from_space(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    W = np.random.default_rng(seed).dirichlet(np.ones(len(OBJECTIVES)), n_weights)
    seen = []
    for k, w in enumerate(W):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed * 100 + k))
        n = budget // n_weights + (k < budget % n_weights)
        for _ in range(n):
            t = study.ask()
            idx = [t.suggest_int(name, 0, len(g) - 1) for name, g in zip(view.numeric, view.grids)]
            cats = {name: t.suggest_categorical(name, list(v)) for name, v in view.categorical.items()}
            f = _objectives(oracle, net, view.frame(view.from_index(np.array([idx])), pd.DataFrame([cats])))[0]
            study.tell(t, float(np.log(f) @ w))
            seen.append(f)
    return _front(np.array(seen))


def case(ctx, net, name: str, seed: int, budgets, skip: tuple[str, ...] = ()) -> list[dict]:
    t = time.perf_counter()
    exact = np.log(exact_front(ctx.oracle, ctx.space, [net], OBJECTIVES)[OBJECTIVES].to_numpy(float))
    exact_s = time.perf_counter() - t
    lo, hi = exact.min(axis=0), exact.max(axis=0)
    hv_exact = hypervolume(normalize(exact, lo, hi))
    rows = []
    for budget in budgets:
        for method, fn in (("hwpower", lambda: hwpower_front(ctx, net, budget, seed)),
                           ("hwpower-ranks", lambda: hwpower_front(ctx, net, budget, seed, sequential=False)),
                           ("nsga2", lambda: nsga2_front(ctx.oracle, ctx.space, net, budget, seed)),
                           ("random", lambda: random_front(ctx.oracle, ctx.space, net, budget, seed)),
                           ("scalarized-tpe", lambda: scalarized_front(ctx.oracle, ctx.space, net, budget, seed))):
            if method in skip:
                continue
            t = time.perf_counter()
            F = np.log(fn())
            rows.append({"network": name, "seed": seed, "budget": budget, "method": method,
                         "hv_ratio": hypervolume(normalize(F, lo, hi)) / hv_exact, "front_size": len(F),
                         "exact_front_size": len(exact), "time_s": time.perf_counter() - t, "exact_sweep_s": exact_s})
            console.print(f"{name} seed {seed} budget {budget} {method}: hv ratio {rows[-1]['hv_ratio']:.3f} "
                          f"({rows[-1]['time_s']:.1f} s)")
    return rows


def summarize(df: pd.DataFrame) -> dict:
    g = df.groupby(["budget", "method"])["hv_ratio"]
    out = {f"{m}@{b}": {"hv_ratio_median": round(float(s.median()), 4), "hv_ratio_mean": round(float(s.mean()), 4),
                        "hv_ratio_min": round(float(s.min()), 4), "n": int(len(s))} for (b, m), s in g}
    times = df.groupby("method")["time_s"].median().round(2).to_dict()
    wide = df.pivot_table(index=["network", "seed", "budget"], columns="method", values="hv_ratio")
    ahead = {int(b): round(float((w["hwpower"] > w["nsga2"]).mean()), 4) for b, w in wide.groupby(level="budget")}
    ours = df[df.method == "hwpower"]
    return {"objectives": OBJECTIVES, "hv_ratio": out, "median_time_s": times, "cases": int(len(wide) // df.budget.nunique()),
            "share_of_cases_hwpower_ahead_of_nsga2": ahead,
            "targets": {"hv_ratio>=0.98_at_largest_budget_median": bool(ours[ours.budget == ours.budget.max()].hv_ratio.median() >= 0.98),
                        "hv_ratio>=0.98_at_largest_budget_worst": bool(ours[ours.budget == ours.budget.max()].hv_ratio.min() >= 0.98),
                        "ahead_of_nsga2_every_case_and_budget": bool(min(ahead.values()) == 1.0)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run folder of a trained structured predictor (search data saved)")
    ap.add_argument("--data", help="processed dataset of the run (needed once, when the run has no search data)")
    ap.add_argument("--nets", default=None, help="networks to design for (default: the first nets_*.json of examples/data/raw)")
    ap.add_argument("--n-nets", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--quick", action="store_true", help="one network, one seed, 500 oracle calls, no hwpower-ranks or scalarized TPE")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ctx = load_context(args.run, args.data)
    torch.set_num_threads(1)
    args.nets = args.nets or str(sorted(Path("examples/data/raw").glob("nets_*.json"))[0])
    nets = read_networks(args.nets)
    keys = sorted(nets, key=lambda k: int(k) if str(k).isdigit() else 0)
    n_nets, seeds = (1, 1) if args.quick else (args.n_nets, args.seeds)
    budgets = BUDGETS[:1] if args.quick else BUDGETS
    picked = [keys[i] for i in np.linspace(0, len(keys) - 1, n_nets).round().astype(int)]
    rows = []
    for key in picked:
        for seed in range(args.first_seed, args.first_seed + seeds):
            rows += case(ctx, nets[key], f"{args.nets.rsplit('/', 1)[-1]}/{key}", seed, budgets,
                         skip=("hwpower-ranks", "scalarized-tpe") if args.quick else ())
    result = {"benchmark": "pareto", "quick": args.quick, **summarize(pd.DataFrame(rows)),
              "wall_s": round(time.perf_counter() - t0, 1)}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({**result, "rows": rows}, f, indent=1)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
