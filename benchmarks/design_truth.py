"""Design under binding constraints, and the surrogate search against direct search on a slow truth
(issue 14, items 3 and 4).

Cases: networks (half seen in training, half held out) x constraints that bind (latency within
the fastest 5 / 10 / 20 % of the grid; an area budget) x seeds. The exhaustive optimum of every
case comes from one oracle sweep of the grid per network.

* binding: ``design --minimize ... --verify`` (ours: verification + local search on the truth):
  median and worst gap of the best verified candidate to the optimum, rank-1 feasible under the
  truth, candidates returned; beside it the same run cut to its first 8 and 32 truth calls, and the
  unverified rank-1 with and without the uncertainty margin.
* slow truth: every search records a trace (compute seconds, truth calls, objective) and is replayed
  at a delay ``d`` per truth call: wall time = compute + calls x d (a simulated clock;
  ``--check-clock`` shows it matches a real sleep). Random search, Optuna TPE and CMA-ES search the
  truth directly; at equal wall time (ours' whole query at that delay) and on a grid of wall times.
  The predictor's training (its rows are truth calls too) is counted separately, not amortized.

    .venv/bin/python benchmarks/design_truth.py --run RUN --data PROCESSED [--quick] [--jobs N] [--fig F.png]

Prints progress on stderr and one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from threadpoolctl import threadpool_limits

from hwpower.search import design, parse_constraint
from hwpower.search.blackbox import BASELINES, DesignTask
from hwpower.search.problem import parse_objective
from hwpower.search.run_context import load_context, read_data
from hwpower.search.truth import Clock, SlowTruth, best_within

console = Console(stderr=True)
CASES = [("P", [("latency_ms", 0.05)]), ("P", [("latency_ms", 0.10)]), ("P", [("latency_ms", 0.20)]),
         ("latency_ms", [("area_mm2", 0.10)]), ("energy_mj", [("area_mm2", 0.25), ("latency_ms", 0.25)])]
DELAYS_S = [0.0, 1e-3, 1e-2, 1e-1, 1.0]
WALLS_S = [0.3, 1, 3, 10, 30, 100, 300, 1000, 3000]
FULL = {"networks": 6, "seeds": 1, "cases": CASES, "caps": {"random": 200_000, "tpe": 200, "cma-es": 5_000},
        "random_wall_s": 12.0, "fixed": {}}
QUICK = {"networks": 1, "seeds": 1, "cases": CASES[1:2], "caps": {"random": 20_000, "tpe": 40, "cma-es": 600},
         "random_wall_s": 2.0, "fixed": {"rf_bytes": 64, "bits": 8, "dataflow": "ws"}}


@functools.lru_cache(maxsize=1)
def _load(run: str, data: str):
    return load_context(run), read_data(data)


def _sweep(ctx, net, fixed):
    grid = ctx.space.grid_frame()
    for k, v in fixed.items():
        grid = grid[grid[k] == v]
    return ctx.oracle.evaluate(net, grid.reset_index(drop=True))


def _constraints(sweep, spec):
    return [parse_constraint(f"{out}<={float(np.quantile(sweep[out], q)):.6g}") for out, q in spec]


def _optimum(sweep, objective, cons):
    ok = np.ones(len(sweep), bool)
    for c in cons:
        ok &= sweep[c.output].to_numpy() <= c.limit
    return float(sweep[objective][ok].min()) if ok.any() else float("nan")


def network_unit(run, data, key, seeds, sizes, unverified_seeds):
    """Every case and seed of one network: ours (traced), its unverified rank-1, the direct searches."""
    ctx, info = _load(run, data)
    net, fixed = info.networks[key], sizes["fixed"]
    t0 = time.perf_counter()
    sweep = _sweep(ctx, net, fixed)
    sweep_s = time.perf_counter() - t0
    rows = []
    for ci, (objective, spec) in enumerate(sizes["cases"]):
        cons = _constraints(sweep, spec)
        opt = _optimum(sweep, objective, cons)
        base = {"network": key, "held_out": key not in ctx.train_networks, "case": ci,
                "case_text": f"min {objective} s.t. " + ", ".join(f"{o} in fastest/smallest {100 * q:g} %" for o, q in spec),
                "constraints": [str(c) for c in cons], "optimum": opt, "sweep_s": sweep_s}
        if not np.isfinite(opt):
            continue
        for seed in seeds:
            res = design(ctx, [net], objective=objective, constraints=cons, fixed=fixed, top_k=8, verify=True, seed=seed)
            c, trace = res.candidates, np.array(res.meta["truth_trace"])
            row = {**base, "seed": seed, "method": "ours", "value": res.meta["best_oracle_objective"],
                   "rank1_feasible": bool(c.oracle_feasible.iloc[0]), "n_returned": len(c), "calls": res.meta["oracle_calls"],
                   "search_s": res.meta["search_time_s"], "margin": res.meta["margin"], "trace": trace.tolist(),
                   "binding": res.meta.get("binding_constraint")}
            for k in (8, 32):
                row[f"value_first_{k}"] = best_within(trace[:k], np.inf, 0.0)
            if seed in unverified_seeds:
                for label, margin in (("margin", None),):
                    u = design(ctx, [net], objective=objective, constraints=cons, fixed=fixed, top_k=8, seed=seed, margin=margin)
                    task = DesignTask([net], parse_objective(objective), cons, fixed=fixed)
                    obj, ok, _ = task.evaluate(ctx.oracle, u.candidates[u.hw_columns].head(1))
                    row[f"unverified_{label}_rank1_feasible"] = bool(ok[0])
                    row[f"unverified_{label}_rank1_value"] = float(obj[0]) if ok[0] else None
            rows.append(row)
            task = DesignTask([net], parse_objective(objective), cons, fixed=fixed)
            for name, fn in BASELINES.items():
                wall = sizes["random_wall_s"] if name == "random" else None
                r = fn(task, ctx.oracle, ctx.space, sizes["caps"][name], wall, seed=seed)
                rows.append({**base, "seed": seed, "method": name, "value": r.best_objective if r.best else None,
                             "calls": r.oracle_calls, "trace": r.trace.tolist()})
    return rows


def check_clock(run, data, key, fixed, delay_s=0.01, wall_s=2.0):
    """The simulated clock against a real sleep: random search and ours on one case at ``delay_s``."""
    ctx, info = _load(run, data)
    net = info.networks[key]
    cons = _constraints(_sweep(ctx, net, fixed), CASES[1][1])
    task = DesignTask([net], parse_objective("P"), cons, fixed=fixed)
    out = {"delay_s": delay_s, "wall_s": wall_s}
    for label, simulated in (("simulated", True), ("real_sleep", False)):
        truth = SlowTruth(ctx.oracle, delay_s, Clock(simulated=simulated))
        t0 = time.perf_counter()
        r = BASELINES["random"](task, truth, ctx.space, 10**9, wall_s, seed=0)
        out[f"random_{label}"] = {"calls": r.oracle_calls, "best": r.best_objective, "clock_s": r.wall_s,
                                  "real_s": time.perf_counter() - t0}
        ctx.oracle, orc = truth, ctx.oracle
        t0 = time.perf_counter()
        d = design(ctx, [net], objective="P", constraints=cons, fixed=fixed, verify=True, truth_calls=64)
        real = time.perf_counter() - t0
        ctx.oracle = orc
        tr = np.array(d.meta["truth_trace"])
        out[f"ours_{label}"] = {"calls": d.meta["oracle_calls"], "best": d.meta["best_oracle_objective"],
                                "clock_s": real + truth.clock.charged_s, "real_s": real,
                                "replayed_s": float(tr[-1, 0] + tr[-1, 1] * delay_s) if simulated else None}
    return out


def _gap(value, opt):
    return 100 * (value / opt - 1) if value is not None and np.isfinite(value) else np.inf


def summarize_binding(df: pd.DataFrame) -> dict:
    ours = df[df.method == "ours"].copy()
    out = {"runs": len(ours), "networks": int(ours.network.nunique()), "per_case": {}}
    cols = {"ours (verify + local search)": "value", "first 8 truth calls": "value_first_8", "first 32 truth calls": "value_first_32"}

    def stats(g):
        res = {}
        for label, col in cols.items():
            gap = np.array([_gap(v, o) for v, o in zip(g[col], g.optimum)])
            res[label] = {"median_gap_pct": float(np.median(gap)), "p90_gap_pct": float(np.quantile(gap, 0.9)),
                          "worst_gap_pct": float(gap.max()), "share_gap_le_1pct": float((gap <= 1).mean())}
        res["rank1_feasible_share"] = float(g.rank1_feasible.mean())
        res["returned_top_k_share"] = float((g.n_returned == 8).mean())
        res["median_calls"] = float(g.calls.median())
        res["max_calls"] = int(g.calls.max())
        res["median_search_s"] = float(g.search_s.median())
        for label in ("margin", "no_margin"):
            col = f"unverified_{label}_rank1_feasible"
            if col in g and g[col].notna().any():
                res[f"unverified_{label}_rank1_feasible_share"] = float(g[col].dropna().astype(bool).mean())
                gaps = [_gap(v, o) for v, o in zip(g[f"unverified_{label}_rank1_value"], g.optimum) if pd.notna(v)]
                res[f"unverified_{label}_rank1_median_gap_pct"] = float(np.median(gaps)) if gaps else None
        return res

    out["all"] = stats(ours)
    for label, part in (("held_out", ours[ours.held_out]), ("seen", ours[~ours.held_out])):
        out[label] = stats(part) if len(part) else None
    for ci, g in ours.groupby("case"):
        out["per_case"][g.case_text.iloc[0]] = stats(g)
    out["median_margin_pct"] = float(100 * ours.margin.median())
    return out


def summarize_slow(df: pd.DataFrame, train_rows: int, train_s: float | None) -> dict:
    methods = ["ours", *BASELINES]
    runs = {(r.network, r.case, r.seed): {} for r in df.itertuples()}
    for r in df.itertuples():
        runs[(r.network, r.case, r.seed)][r.method] = (np.array(r.trace).reshape(-1, 3), r.optimum)
    equal, curves = {}, {}
    for d in DELAYS_S:
        gaps = {m: [] for m in methods}
        ratio, cut = [], {m: 0 for m in BASELINES}
        for per in runs.values():
            tr, opt = per["ours"]
            T = tr[-1, 0] + tr[-1, 1] * d  # ours' whole query at this delay
            vals = {m: best_within(per[m][0], T, d) for m in methods}
            for m in methods:
                gaps[m].append(_gap(vals[m], opt))
            for m in BASELINES:
                t_end = per[m][0][-1, 0] + per[m][0][-1, 1] * d
                cut[m] += int(t_end < T)
            direct = min(vals[m] for m in BASELINES)
            ratio.append(direct / vals["ours"] if np.isfinite(vals["ours"]) else 0.0)
        equal[str(d)] = {"median_wall_s": float(np.median([per["ours"][0][-1, 0] + per["ours"][0][-1, 1] * d for per in runs.values()])),
                         **{f"{m}_median_gap_pct": float(np.median(gaps[m])) for m in methods},
                         **{f"{m}_worst_gap_pct": float(np.max(gaps[m])) for m in methods},
                         "median_best_direct_over_ours": float(np.median(ratio)),
                         "ours_ahead_share": float(np.mean([r > 1 + 1e-9 for r in ratio])),
                         "ours_tied_or_ahead_share": float(np.mean([r >= 1 - 1e-9 for r in ratio])),
                         "trace_cut_cases": cut}
        curves[str(d)] = {m: [_median_uncut([(_gap(best_within(per[m][0], T, d), per[m][1]),
                                                m != "ours" and per[m][0][-1, 0] + per[m][0][-1, 1] * d < T)
                                               for per in runs.values()]) for T in WALLS_S] for m in methods}
    best_direct = {d: min(equal[d][f"{m}_median_gap_pct"] for m in BASELINES) for d in equal}
    cross = next((float(d) for d in equal if equal[d]["ours_median_gap_pct"] < best_direct[d]), None)
    return {"cases": len(runs), "delays_s": DELAYS_S, "walls_s": WALLS_S, "equal_wall_time": equal, "curves": curves,
            "crossover_delay_s": cross,
            "training": {"truth_calls": train_rows, "train_s": train_s, "amortized": False,
                         "truth_time_s_at_delay": {str(d): train_rows * d for d in DELAYS_S}}}


def _median_uncut(pairs) -> float:
    """Median gap over cases, or nan when most cases' traces were cut (capped) before this time."""
    gaps = [g for g, cut in pairs if not cut]
    return float(np.median(gaps)) if len(gaps) * 2 > len(pairs) else float("nan")


def figure(slow: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    delays = slow["delays_s"]
    fig, axes = plt.subplots(1, len(delays), figsize=(4 * len(delays), 3.6), sharey=True)
    for ax, d in zip(np.atleast_1d(axes), delays):
        for m, ys in slow["curves"][str(d)].items():
            y = np.array(ys, float)
            ax.plot(slow["walls_s"], np.where(np.isfinite(y), y, np.nan), marker="o", ms=3, label=m)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"{d:g} s per truth call")
        ax.set_xlabel("wall time (s)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("median gap to optimum (%)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle("Best verified design vs wall time on a slow truth (median over cases; "
                 "missing: nothing feasible yet, or the baseline's run was capped before)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--quick", action="store_true", help="1 network, 1 case, 1 seed, reduced grid: ends within 60 s")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--fig", help="write the wall-time figure here (PNG)")
    ap.add_argument("--check-clock", action="store_true", help="also compare the simulated clock with a real sleep")
    ap.add_argument("--rows", help="append raw rows (JSONL) as networks finish")
    ap.add_argument("--summarize", help="only summarize a --rows JSONL file written earlier")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.summarize:
        rows = [r for line in Path(args.summarize).read_text().splitlines() for r in json.loads(line)]
        print(json.dumps(_summary(args, pd.DataFrame(rows), sorted({r["network"] for r in rows}),
                                  sorted({r["seed"] for r in rows}), FULL, t0), default=float))
        return
    sizes = QUICK if args.quick else FULL
    ctx, info = _load(args.run, args.data)
    seen = sorted(k for k in info.networks if k in ctx.train_networks)
    unseen = sorted(k for k in info.networks if k not in ctx.train_networks)
    rng = np.random.default_rng(0)
    n = sizes["networks"]
    keys = [str(k) for k in rng.choice(unseen, n - n // 2, replace=False)] + [str(k) for k in rng.choice(seen, n // 2, replace=False)]
    seeds = list(range(sizes["seeds"]))
    todo = [(network_unit, (args.run, args.data, k, seeds, sizes, seeds[:1])) for k in keys]
    rows = []
    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else _Inline() as pool:
        for fut in as_completed([pool.submit(_call, fn, a) for fn, a in todo]):
            part = fut.result()
            rows += part
            console.print(f"{part[0]['network'] if part else '?'} done ({time.perf_counter() - t0:.0f} s)")
            if args.rows:
                with open(args.rows, "a") as f:
                    f.write(json.dumps(part, default=float) + "\n")
    print(json.dumps(_summary(args, pd.DataFrame(rows), keys, seeds, sizes, t0), default=float))


def _summary(args, df, keys, seeds, sizes, t0) -> dict:
    hist = Path(args.run) / "history.json"
    train_s = float(sum(e.get("seconds", 0) for e in json.loads(hist.read_text()))) if hist.is_file() else None
    from hwpower.processing import load_processed
    out = {"benchmark": "design_truth", "quick": args.quick, "run": args.run, "networks": keys, "seeds": seeds,
           "design_fixed": sizes["fixed"], "baseline_caps": sizes["caps"],
           "binding": summarize_binding(df), "slow_truth": summarize_slow(df, len(load_processed(args.data).train), train_s)}
    b = out["binding"]["all"]
    out["targets"] = {"binding_median_gap<=1pct": b["ours (verify + local search)"]["median_gap_pct"] <= 1.0,
                      "rank1_feasible>=0.95": b["rank1_feasible_share"] >= 0.95,
                      "always_top_k": b["returned_top_k_share"] == 1.0}
    if args.check_clock:
        with threadpool_limits(1):
            out["clock_check"] = check_clock(args.run, args.data, keys[0], sizes["fixed"])
    if args.fig:
        figure(out["slow_truth"], args.fig)
    out["total_s"] = time.perf_counter() - t0
    return out


def _call(fn, args):
    with threadpool_limits(1):
        return fn(*args)


class _Inline:
    """A one-process stand-in for the pool (runs each unit when submitted)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *a):
        from concurrent.futures import Future
        f = Future()
        f.set_result(fn(*a))
        return f


if __name__ == "__main__":
    sys.exit(main())
