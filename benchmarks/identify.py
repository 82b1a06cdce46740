"""identify benchmark (issue 14, item 5): which hardware produced these measurements?

    .venv/bin/python benchmarks/identify.py --run RUN_DIR --data PROCESSED_DIR [--quick] [--seeds N] [--cases N]

The cases of benchmarks/search.py: a hidden grid configuration (``space.sample(n, seed=1000 + seed)``),
8 networks of the dataset (``default_rng([seed, case])``), their ``P_core`` and ``P_bw`` by the oracle
(16 measurements). Side by side on every case:

* **hwpower**: ``identify(..., verify=True)``: surrogate proposals, truth verification of the best
  48 distinct ones, exact local search on the grid with the truth; also the surrogate's own rank-1
  and the best of the verified proposals before the local search;
* **truth only**: the same truth local search (with its iterated local search) from 48 random grid
  configurations, no surrogate;
* **answer set** (the yardstick): every grid configuration reproducing all 16 within 2 %, by an
  exhaustive oracle sweep (:func:`hwpower.search.identify.answer_set`); then how it shrinks with
  further measurements: the same networks' ``latency_ms``, the chip's ``area_mm2``, both, 8 more
  networks' powers, and a 0.5 % tolerance.

Prints progress on stderr, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from hwpower.search import identify
from hwpower.search.identify import TRUTH_BUDGET, TRUTH_VERIFY, TruthFit, answer_set
from hwpower.search.run_context import load_context, read_data

console = Console(stderr=True)
OUTS = ["P_core", "P_bw"]
QUICK_FIXED = {"bits": 8, "dataflow": "ws"}  # --quick: a quarter of the grid, a quarter of the surrogate's starts


def _within(values: np.ndarray, measured: np.ndarray, tol_pct: float) -> np.ndarray:
    """(n_cfg, m, k) values vs (m, k) measurements: every one within ``tol_pct`` %."""
    return (np.abs(values / measured[None] - 1) <= tol_pct / 100).reshape(len(values), -1).all(axis=1)


def _truth_of(oracle, nets, hw: pd.DataFrame, cols) -> np.ndarray:
    """(len(hw), len(nets), len(cols)) oracle outputs."""
    M = len(nets)
    out = oracle.evaluate_many(nets, np.tile(np.arange(M), len(hw)), hw.iloc[np.repeat(np.arange(len(hw)), M)].reset_index(drop=True))
    return out[cols].to_numpy(float).reshape(len(hw), M, len(cols))


def case(ctx, info, seed: int, i: int, n_nets: int, fixed: dict, n_hidden: int) -> dict:
    keys = sorted(info.networks)
    hidden = ctx.space.sample(n_hidden, seed=1000 + seed).iloc[[i]].reset_index(drop=True)
    for k, v in fixed.items():
        hidden[k] = v
    rng = np.random.default_rng([seed, i])
    chosen = list(rng.choice(keys, n_nets, replace=False))
    more = list(np.random.default_rng([seed, i, 1]).choice(sorted(set(keys) - set(chosen)), n_nets, replace=False))
    nets, more_nets = [info.networks[k] for k in chosen], [info.networks[k] for k in more]
    full = ctx.oracle.evaluate_many(nets, np.arange(n_nets), pd.concat([hidden] * n_nets, ignore_index=True))
    meas = full[OUTS].reset_index(drop=True)
    params = list(ctx.view.order)
    truth_row = {p: str(hidden.iloc[0][p]) for p in params}

    def exact(row) -> bool:
        return all(str(row[p]) == truth_row[p] or (p in ctx.view.numeric and float(row[p]) == float(truth_row[p])) for p in params)

    row = {"seed": seed, "case": i, "n_nets": n_nets, **{f"true_{p}": truth_row[p] for p in params}}
    t = time.perf_counter()
    res = identify(ctx, nets, meas, top_k=5, verify=True, fixed=fixed, seed=seed)
    c = res.candidates.iloc[0]
    row.update(hwpower_s=time.perf_counter() - t, surrogate_s=res.meta["surrogate_s"], truth_s=res.meta["truth_s"],
               hwpower_calls=res.meta["oracle_calls"], hwpower_max_err_pct=float(c.oracle_max_err_pct),
               hwpower_exact=exact(c), hwpower_found_set=res.meta["n_equally_good"],
               surrogate_rank1_max_err_pct=res.meta["surrogate_rank1_oracle_max_err_pct"],
               surrogate_verified_best_max_err_pct=res.meta["verified_best_oracle_max_err_pct"])
    t = time.perf_counter()
    tf = TruthFit(ctx, nets, meas, fixed)
    seen = tf.refine(ctx.space.sample(TRUTH_VERIFY, seed=seed * 7919 + i).assign(**fixed), TRUTH_BUDGET, goal_pct=2.0, seed=seed)
    row.update(truth_only_s=time.perf_counter() - t, truth_only_calls=tf.calls,
               truth_only_max_err_pct=float(seen.oracle_max_err_pct.iloc[0]), truth_only_exact=exact(seen.iloc[0]))
    t = time.perf_counter()
    ans = answer_set(ctx.oracle, ctx.space, nets, meas, tol_pct=2.0, fixed=fixed)
    row.update(answer_set_s=time.perf_counter() - t, answer_set=len(ans), truth_in_answer_set=any(exact(r) for _, r in ans.iterrows()),
               answer_set_tol_0_5pct=int((ans.oracle_max_err_pct <= 0.5).sum()))
    hw = ans[params]
    if len(hw):
        lat = _truth_of(ctx.oracle, nets, hw, ["latency_ms", "area_mm2"])
        ok_lat = _within(lat[:, :, :1], full[["latency_ms"]].to_numpy(float), 2.0)
        ok_area = _within(lat[:, :1, 1:], full[["area_mm2"]].to_numpy(float)[:1], 2.0)
        truth_more = ctx.oracle.evaluate_many(more_nets, np.arange(n_nets), pd.concat([hidden] * n_nets, ignore_index=True))
        ok_more = _within(_truth_of(ctx.oracle, more_nets, hw, OUTS), truth_more[OUTS].to_numpy(float), 2.0)
        row.update(answer_set_with_latency=int(ok_lat.sum()), answer_set_with_area=int(ok_area.sum()),
                   answer_set_with_latency_area=int((ok_lat & ok_area).sum()), answer_set_with_8_more_nets=int(ok_more.sum()),
                   answer_set_with_all=int((ok_lat & ok_area & ok_more).sum()))
        varying = [p for p in params if hw[p].astype(str).nunique() > 1]
        row["answer_set_varying_params"] = ",".join(varying)
    console.print(f"seed {seed} case {i}: hwpower {row['hwpower_max_err_pct']:.2f} % (exact {row['hwpower_exact']}, "
                  f"{row['hwpower_calls']} calls, {row['hwpower_s']:.0f} s; surrogate rank 1 {row['surrogate_rank1_max_err_pct']:.1f} %), "
                  f"truth only {row['truth_only_max_err_pct']:.2f} %, answer set {row['answer_set']} "
                  f"({row.get('answer_set_varying_params', '')})")
    return row


def _share(s: pd.Series) -> float:
    return round(float(s.mean()), 4)


def summarize(df: pd.DataFrame) -> dict:
    def dist(col: str) -> dict:
        s = df[col].dropna()
        return {"median": float(s.median()), "max": float(s.max()), "share_one": _share(s == 1)}

    out = {
        "cases": len(df), "measurements_per_case": 2 * int(df.n_nets.iloc[0]),
        "hwpower": {"share_within_2pct": _share(df.hwpower_max_err_pct <= 2), "share_exact": _share(df.hwpower_exact),
                    "median_max_err_pct": float(df.hwpower_max_err_pct.median()), "worst_max_err_pct": float(df.hwpower_max_err_pct.max()),
                    "median_oracle_calls": float(df.hwpower_calls.median()), "max_oracle_calls": int(df.hwpower_calls.max()),
                    "median_s": float(df.hwpower_s.median()), "median_surrogate_s": float(df.surrogate_s.median()),
                    "median_truth_s": float(df.truth_s.median())},
        "surrogate_rank1": {"share_within_2pct": _share(df.surrogate_rank1_max_err_pct <= 2),
                            "median_max_err_pct": float(df.surrogate_rank1_max_err_pct.median())},
        "surrogate_best_of_48_verified": {"share_within_2pct": _share(df.surrogate_verified_best_max_err_pct <= 2),
                                          "median_max_err_pct": float(df.surrogate_verified_best_max_err_pct.median())},
        "truth_only": {"share_within_2pct": _share(df.truth_only_max_err_pct <= 2), "share_exact": _share(df.truth_only_exact),
                       "median_max_err_pct": float(df.truth_only_max_err_pct.median()), "worst_max_err_pct": float(df.truth_only_max_err_pct.max()),
                       "median_oracle_calls": float(df.truth_only_calls.median()), "median_s": float(df.truth_only_s.median())},
        "answer_set": {"truth_inside": _share(df.truth_in_answer_set), "median_exhaustive_s": float(df.answer_set_s.median()),
                       **{k: dist(c) for k, c in (("P_core_P_bw_2pct", "answer_set"), ("tol_0_5pct", "answer_set_tol_0_5pct"),
                                                  ("plus_latency", "answer_set_with_latency"), ("plus_area", "answer_set_with_area"),
                                                  ("plus_latency_area", "answer_set_with_latency_area"),
                                                  ("plus_8_more_networks", "answer_set_with_8_more_nets"),
                                                  ("plus_all", "answer_set_with_all")) if c in df}},
        "hwpower_found_share_of_answer_set": float((df.hwpower_found_set / df.answer_set).median()),
    }
    if "answer_set_varying_params" in df:
        counts = pd.Series([p for s in df.answer_set_varying_params.dropna() for p in s.split(",") if p]).value_counts()
        out["answer_set"]["cases_where_param_varies"] = {k: int(v) for k, v in counts.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run folder of a trained structured predictor (search data saved)")
    ap.add_argument("--data", required=True, help="the processed dataset (its networks; and the search data if not saved)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--cases", type=int, default=5, help="hidden configurations per seed")
    ap.add_argument("--quick", action="store_true", help="one case, 4 networks, bits=8 and dataflow=ws fixed; ends within 60 s")
    ap.add_argument("--out", help="also write the JSON (with every case's row) here")
    ap.add_argument("--rows", help="append every case's row to this JSONL file as it finishes")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ctx = load_context(args.run, args.data)
    info = read_data(args.data)
    seeds, cases, fixed = ([0], 1, QUICK_FIXED) if args.quick else (list(range(args.seeds)), args.cases, {})
    n_nets = 4 if args.quick else 8
    rows = []
    for s in seeds:
        for i in range(cases):
            rows.append(case(ctx, info, s, i, n_nets, fixed, max(cases, 100) + 1))
            if args.rows:
                with open(args.rows, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rows[-1], default=str) + "\n")
    df = pd.DataFrame(rows)
    result = {"benchmark": "identify", "quick": args.quick, "run": args.run, "fixed": fixed, **summarize(df),
              "targets": {"identify_share_within_2pct>=0.90": bool((df.hwpower_max_err_pct <= 2).mean() >= 0.9)},
              "wall_s": round(time.perf_counter() - t0, 1)}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({**result, "rows": rows}, f, indent=1, default=str)
    sys.stdout.write(json.dumps(result, default=float) + "\n")


if __name__ == "__main__":
    main()
