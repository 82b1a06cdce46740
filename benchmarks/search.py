"""Search benchmark (issue 6): recover, identify and design on a trained predictor, every figure
verified by the oracle; design compared with random search, CMA-ES and TPE run on the oracle with
the same oracle calls as our verification step, 10x as many, and equal wall time, against the true
optimum (exhaustive oracle search over the grid).

    .venv/bin/python benchmarks/search.py --run RUN_DIR --data PROCESSED_DIR [--quick] [--jobs N]

``--jobs N`` spreads independent cases over N processes (each single-threaded); per-query times are
measured inside each case. Prints progress on stderr, then one JSON object on the last line.
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
from rich.progress import Progress
from threadpoolctl import threadpool_limits

from hwpower.search import RecoverQuery, design, identify, parse_constraint, recover
from hwpower.search.blackbox import BASELINES, DesignTask, exhaustive
from hwpower.search.problem import parse_objective
from hwpower.search.run_context import load_context, read_data

console = Console(stderr=True)
FULL = {"recover": 200, "identify": 100, "design": 20, "fixed": {}}
QUICK = {"recover": 4, "identify": 0, "design": 1, "fixed": {"rf_bytes": 64, "bits": 8, "dataflow": "ws"}}


@functools.lru_cache(maxsize=1)
def _load(run: str, data: str):
    from hwpower.processing import load_processed

    ds = load_processed(data)
    return load_context(run), read_data(data), ds


def recover_unit(run, data, seed, n):
    ctx, info, ds = _load(run, data)
    sample = ds.val.sample(n, random_state=seed)
    rows = []
    for r in sample.itertuples():
        res = recover(ctx, [RecoverQuery(info.networks[r.network], {"P": float(r.P)}, r.network)], top_k=5, verify=True, seed=seed)
        c = res.candidates
        rows.append({"seed": seed, "network": r.network, "best_abs_err_pct": float(c.oracle_err_P_pct.abs().min()),
                     "pred_abs_err_pct": float(c.pred_err_P_pct.abs().min()), "time_s": res.meta["search_time_s"]})
    return "recover", rows


def identify_unit(run, data, seed, cases, n_nets=8):
    ctx, info, _ = _load(run, data)
    keys = sorted(info.networks)
    hidden = ctx.space.sample(max(cases) + 1, seed=1000 + seed)
    rows = []
    for i in cases:
        rng = np.random.default_rng([seed, i])
        nets = [info.networks[k] for k in rng.choice(keys, n_nets, replace=False)]
        hw = pd.concat([hidden.iloc[[i]]] * n_nets, ignore_index=True)
        meas = ctx.oracle.evaluate_many(nets, np.arange(n_nets), hw)[["P_core", "P_bw"]]
        res = identify(ctx, nets, meas, top_k=5, verify=True, seed=seed)
        c = res.candidates
        best = c.iloc[int(np.argmin(c.oracle_max_err_pct.to_numpy()))]  # the oracle-verified pick
        truth = hidden.iloc[i]
        row = {"seed": seed, "case": i, "rank1_max_err_pct": float(c.oracle_max_err_pct.iloc[0]),
               "verified_max_err_pct": float(best.oracle_max_err_pct), "rank1_pred_max_err_pct": float(c.pred_max_err_pct.iloc[0]),
               "time_s": res.meta["search_time_s"]}
        for p in truth.index:  # all values are grid values: "exact" (numeric within 5% is the same here)
            row[f"exact_{p}"] = bool(best[p] == truth[p]) if ctx.space[p].kind == "categorical" else bool(abs(float(best[p]) / float(truth[p]) - 1) <= 0.05)
        rows.append(row)
    return "identify", rows


def design_unit(run, data, keys, seeds, fixed):
    """Minimize P s.t. latency_ms <= L, L = the network's median latency in the data."""
    ctx, info, ds = _load(run, data)
    both = pd.concat([ds.train, ds.val])
    objective, rows = parse_objective("P"), []
    for key in keys:
        net = info.networks[key]
        lat = float(both.loc[both.network == key, "latency_ms"].median())
        cons = [parse_constraint(f"latency_ms<={lat}")]
        task = DesignTask([net], objective, cons, fixed=fixed)
        t0 = time.perf_counter()
        truth = exhaustive(task, ctx.oracle, ctx.space)
        base0 = {"network": key, "held_out": key not in ctx.train_networks, "optimum": truth.best_objective,
                 "exhaustive_calls": truth.oracle_calls, "exhaustive_s": time.perf_counter() - t0}
        for seed in seeds:
            t0 = time.perf_counter()
            res = design(ctx, [net], objective=objective, constraints=cons, fixed=fixed, top_k=8, verify=True, seed=seed)
            wall, calls = time.perf_counter() - t0, res.meta["oracle_calls"]
            base = {**base0, "seed": seed}
            rows.append({**base, "method": "ours (predictor + verify)", "budget": "ours", "calls": calls,
                         "value": res.meta["best_oracle_objective"], "wall_s": wall, "search_s": res.meta["search_time_s"],
                         "rank1_feasible": bool(res.candidates.oracle_feasible.iloc[0]), "n_returned": len(res.candidates)})
            for name, fn in BASELINES.items():
                for label, budget, wall_s in (("equal calls", calls, None), ("10x calls", 10 * calls, None),
                                              ("equal wall time", 10**9, wall)):
                    if name == "tpe" and label == "10x calls":
                        continue  # thousands of sequential TPE trials: minutes per case, skipped
                    r = fn(task, ctx.oracle, ctx.space, budget, wall_s, seed=seed)
                    rows.append({**base, "method": name, "budget": label, "calls": r.oracle_calls,
                                 "value": r.best_objective if r.best else None, "wall_s": r.wall_s})
    return "design", rows


def _call(fn, args):
    with threadpool_limits(1):
        return fn(*args)


def _collect(rows: dict, result: tuple[str, list], path: str | None) -> None:
    kind, r = result
    rows[kind] += r
    if path:
        with open(path, "a") as f:
            f.write(json.dumps([kind, r], default=float) + "\n")


def units(args, sizes, seeds, ctx, info):
    out = []
    per_seed = int(np.ceil(sizes["recover"] / len(seeds)))
    for s in seeds:
        for chunk in np.array_split(np.arange(per_seed), max(1, per_seed // 10)):
            out.append((recover_unit, (args.run, args.data, s * 1000 + int(chunk[0]), len(chunk))))
    id_seeds = seeds[:sizes["identify"]]  # identify has its own quick run (benchmarks/identify.py): none in --quick
    per_seed = int(np.ceil(sizes["identify"] / len(id_seeds))) if id_seeds else 0
    for s in id_seeds:
        for chunk in np.array_split(np.arange(per_seed), max(1, per_seed // 4)):
            out.append((identify_unit, (args.run, args.data, s, [int(i) for i in chunk])))
    seen = sorted(k for k in info.networks if k in ctx.train_networks)
    unseen = sorted(k for k in info.networks if k not in ctx.train_networks)
    rng = np.random.default_rng(0)
    n = sizes["design"]
    keys = list(rng.choice(seen, n - n // 2, replace=False)) + list(rng.choice(unseen, min(n // 2, len(unseen)), replace=False))
    for k in keys:  # --quick: one seed (baselines at equal wall time dominate the time)
        out.append((design_unit, (args.run, args.data, [str(k)], seeds[:1] if args.quick else seeds, sizes["fixed"])))
    return out


def summarize_design(df: pd.DataFrame, train_rows: int) -> dict:
    df = df.copy()
    df["gap_pct"] = (100 * (df["value"].astype(float) / df["optimum"] - 1)).fillna(np.inf)
    table = []
    for (method, budget), g in df.groupby(["method", "budget"], sort=False):
        table.append({"method": method, "budget": budget, "median_oracle_calls": float(g.calls.median()),
                      "training_rows_used": train_rows if method.startswith("ours") else 0,
                      "median_gap_pct": float(g.gap_pct.median()), "share_gap_le_2pct": float((g.gap_pct <= 2).mean()),
                      "share_feasible_found": float(g.value.notna().mean()), "median_wall_s": float(g.wall_s.median()),
                      "median_gap_pct_held_out": float(g.gap_pct[g.held_out].median()) if g.held_out.any() else None,
                      "median_gap_pct_seen": float(g.gap_pct[~g.held_out].median()) if (~g.held_out).any() else None})
    ours = df[df.method.str.startswith("ours")]
    return {"networks": int(df.network.nunique()), "rank1_feasible_share": float(ours.rank1_feasible.mean()),
            "returned_top_k_share": float((ours.n_returned == 8).mean()), "held_out_networks": int(df.drop_duplicates("network").held_out.sum()),
            "table": table, "median_search_s": float(ours.search_s.median()), "p90_search_s": float(ours.search_s.quantile(0.9)),
            "median_exhaustive_s": float(df.exhaustive_s.median()), "exhaustive_calls_per_network": int(df.exhaustive_calls.iloc[0])}


def summarize(rows: dict[str, list], train_rows: int) -> dict:
    rec, idf = pd.DataFrame(rows["recover"]), pd.DataFrame(rows["identify"])
    rec["seed_group"] = rec.seed // 1000
    exact = [c for c in idf.columns if c.startswith("exact_")]
    out = {
        "recover": {"cases": len(rec), "share_within_2pct": float((rec.best_abs_err_pct <= 2).mean()),
                    "share_within_2pct_per_seed": {int(k): float((g.best_abs_err_pct <= 2).mean()) for k, g in rec.groupby("seed_group")},
                    "median_best_abs_err_pct": float(rec.best_abs_err_pct.median()),
                    "p95_best_abs_err_pct": float(rec.best_abs_err_pct.quantile(0.95)),
                    "median_pred_abs_err_pct": float(rec.pred_abs_err_pct.median()),
                    "median_time_s": float(rec.time_s.median()), "p90_time_s": float(rec.time_s.quantile(0.9))},
        "identify": {"cases": len(idf), "measurements_per_case": 16,
                     "share_reproduced_within_2pct_verified_top5": float((idf.verified_max_err_pct <= 2).mean()),
                     "share_reproduced_within_2pct_rank1": float((idf.rank1_max_err_pct <= 2).mean()),
                     "share_per_seed": {int(k): float((g.verified_max_err_pct <= 2).mean()) for k, g in idf.groupby("seed")},
                     "median_max_err_pct_verified": float(idf.verified_max_err_pct.median()),
                     "median_pred_max_err_pct_rank1": float(idf.rank1_pred_max_err_pct.median()),
                     "share_parameter_exact": {c[6:]: float(idf[c].mean()) for c in exact},
                     "median_time_s": float(idf.time_s.median())} if len(idf) else None,
        "design": summarize_design(pd.DataFrame(rows["design"]), train_rows),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run folder of a trained structured predictor")
    ap.add_argument("--data", required=True, help="the processed dataset it was trained on")
    ap.add_argument("--quick", action="store_true", help="small counts and a reduced design grid; ends within 60 s")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--sizes", help="RECOVER,IDENTIFY,DESIGN case counts instead of the defaults (200,100,20)")
    ap.add_argument("--jobs", type=int, default=1, help="processes for independent cases")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--rows", help="append every case's raw rows to this JSONL file as units finish")
    ap.add_argument("--summarize", help="only summarize a --rows JSONL file written earlier (e.g. by a cut-short run)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.summarize:
        rows = {"recover": [], "identify": [], "design": []}
        for line in Path(args.summarize).read_text().splitlines():
            kind, r = json.loads(line)
            rows[kind] += r
        from hwpower.processing import load_processed
        print(json.dumps({"benchmark": "search", "summarized_from": args.summarize,
                          **summarize(rows, len(load_processed(args.data).train))}, default=float))
        return
    cached = (Path(args.run) / "search" / "context.json").is_file()
    ctx = load_context(args.run, None if cached else args.data)  # the k-means starts and domain, once
    info = read_data(args.data)
    sizes, seeds = (QUICK, [0, 1]) if args.quick else (FULL, list(range(args.seeds)))
    if args.sizes:
        sizes = {**sizes, **dict(zip(("recover", "identify", "design"), (int(v) for v in args.sizes.split(","))))}
    todo = units(args, sizes, seeds, ctx, info)[::-1]  # longest units (design, identify) first
    rows: dict[str, list] = {"recover": [], "identify": [], "design": []}
    with Progress(console=console) as bar:
        job = bar.add_task(f"{len(todo)} benchmark units on {args.jobs} process(es)", total=len(todo))
        if args.jobs == 1:
            for fn, a in todo:
                _collect(rows, _call(fn, a), args.rows)
                bar.advance(job)
        else:
            with ProcessPoolExecutor(args.jobs) as pool:
                for fut in as_completed([pool.submit(_call, fn, a) for fn, a in todo]):
                    _collect(rows, fut.result(), args.rows)
                    bar.advance(job)
    from hwpower.processing import load_processed
    train_rows = len(load_processed(args.data).train)
    out = {"benchmark": "search", "quick": args.quick, "sizes": {k: sizes[k] for k in ("recover", "identify", "design")}, "run": args.run, "data": args.data, "seeds": seeds,
           "predictor_targets": list(ctx.predictor.targets), "train_rows": train_rows, "k_means_k": ctx.starts.k,
           "k_choice": "silhouette over k=2..16", "n_random_starts": ctx.n_random, "steps": ctx.config.steps,
           "design_fixed": sizes["fixed"], **summarize(rows, train_rows)}
    ours = next(r for r in out["design"]["table"] if r["method"].startswith("ours"))
    out["targets"] = {
        "recover_share_within_2pct>=0.95": out["recover"]["share_within_2pct"] >= 0.95,
        "identify_share_reproduced>=0.90": (out["identify"]["share_reproduced_within_2pct_verified_top5"] >= 0.90
                                            if out["identify"] else None),
        "design_median_gap<=2pct": ours["median_gap_pct"] <= 2.0,
        "query_time<=2s": max(out["design"]["median_search_s"], out["recover"]["median_time_s"]) <= 2.0,
    }
    out["total_s"] = time.perf_counter() - t0
    text = json.dumps(out, default=float)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
