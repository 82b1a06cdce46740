"""Few-shot adaptation to a truth the predictor never saw (docs/predictor.md, "Adaptation").

Source: the default oracle (45 nm, LPDDR4, fused schedule), OFA-MobileNetV3 networks. Target truth
(``--truth``): the oracle with DDR3 and the layer-by-layer schedule (every activation through DRAM;
the default), or at 28 nm with DDR3: the same networks and hardware rows, other values. A structured
model trained on the source is adapted on n = 10, 20, 50, 100 random target training rows (several
seeds) and scored on all target validation rows (MAPE and Spearman's rho of P): before adaptation,
after each correction kind, and against models trained from scratch on the same rows (a structured
model and LightGBM).

    .venv/bin/python benchmarks/adapt.py [--quick] [--seeds 5] [--threads 1] [--truth ddr3-layer|28nm-ddr3]

Prints one JSON line per size and seed, a table of means and, last, one JSON line. ``--quick`` (a
smaller source model, 2 seeds) ends within about a minute on one thread.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hwpower.generate import GenerateConfig, generate
from hwpower.model import Predictor, train_model
from hwpower.model.adapt import KINDS, fit_correction, pick_rows
from hwpower.model.evaluate import metrics
from hwpower.model.predictor import make_model
from hwpower.oracle import OracleSettings
from hwpower.processing import ProcessedDataset, process

# Truths the source model never saw. The 65 nm node cannot serve as one with the default hardware
# space: its DVFS curve reaches 315 MHz at the maximum voltage, and the space goes to 1000 MHz.
TRUTHS = {"ddr3-layer": OracleSettings(dram="ddr3", schedule="layer"),
          "28nm-ddr3": OracleSettings(tech_nm=28, dram="ddr3")}
SIZES = (10, 20, 50, 100)
# One search space: a model trained from scratch on 10 rows then knows every operator kind of the
# validation networks (with the mixed spaces it refuses networks of kinds its few rows lacked).
SPACE = "ofa-mbv3"


def datasets(tmp: Path, *, truth: str, networks: int, train_rows: int,
             val_rows: int) -> tuple[ProcessedDataset, ProcessedDataset]:
    out = []
    for name, settings in (("source", OracleSettings()), ("target", TRUTHS[truth])):
        cfg = GenerateConfig(networks=networks, train_rows=train_rows, val_rows=val_rows, seed=0, settings=settings,
                             shards=1, search_space=SPACE)
        generate(tmp / f"raw_{name}", cfg)
        out.append(process(tmp / f"raw_{name}", tmp / f"processed_{name}", progress=False))
    return out[0], out[1]


def score(truth: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    m = metrics(truth["P"].to_numpy(np.float64), pred["P"].to_numpy(np.float64))
    return {"mape_pct": round(m["mape_pct"], 3), "spearman": round(m["spearman"], 4)}


def few_shot(tgt: ProcessedDataset, rows: pd.DataFrame) -> ProcessedDataset:
    """The target's networks with ``rows`` as the only training (and, lacking any other, validation) rows."""
    return ProcessedDataset(rows, rows, tgt.networks, tgt.blocks, tgt.layers, tgt.manifest, ops=tgt.ops)


def scratch(tgt: ProcessedDataset, rows: pd.DataFrame, seed: int, *, epochs: int) -> dict[str, dict[str, float]]:
    ds = few_shot(tgt, rows)
    nn = train_model(ds, "structured", progress=False, figures=False, epochs=epochs, batch_size=16, hidden=32,
                     patience=epochs, seed=seed, device="cpu")
    gbt = make_model("gbt", targets=("P_core", "P_bw", "latency_ms"), n_estimators=300, num_leaves=7,
                     min_child_samples=3, seed=seed, n_jobs=1).fit(ds)
    return {"scratch_structured": score(tgt.val, nn.predict(tgt.val, tgt, out_of_range="ignore")),
            "scratch_gbt": score(tgt.val, Predictor(gbt).predict(tgt.val, tgt, out_of_range="ignore"))}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src, tgt = datasets(Path(tmp), truth=args.truth, networks=args.networks, train_rows=args.train_rows,
                            val_rows=args.val_rows)
        source = train_model(src, "structured", progress=False, figures=False, epochs=args.epochs, hidden=args.hidden,
                             batch_size=256, seed=0, device="cpu")
        src_err = score(src.val, source.predict(src.val, src, out_of_range="ignore"))
        before = score(tgt.val, source.predict(tgt.val, tgt, out_of_range="ignore"))
        results = []
        for n in SIZES:
            for seed in range(args.seeds):
                rows = pick_rows(tgt.train, n, seed)
                rec = {"n": n, "seed": seed, "before": before}
                for kind in KINDS:
                    corr = fit_correction(source, rows, tgt, kind=kind, alpha=args.alpha)
                    rec[f"adapt_{kind}"] = score(tgt.val, source.with_correction(corr).predict(
                        tgt.val, tgt, out_of_range="ignore"))
                if not args.no_scratch:
                    rec.update(scratch(tgt, rows, seed, epochs=args.scratch_epochs))
                results.append(rec)
                print(json.dumps(rec), flush=True)
    summary = summarise(results)
    print(pd.DataFrame(summary).T.to_string())
    return {"benchmark": "adapt", "quick": args.quick, "target_truth": f"oracle {args.truth}",
            "source_val": src_err, "target_val_rows": len(tgt.val), "summary": summary,
            "seconds": round(time.perf_counter() - t0, 1)}


def summarise(results: list[dict]) -> dict[str, dict[str, float]]:
    """Mean over seeds of MAPE and Spearman per (method, n)."""
    out: dict[str, dict[str, float]] = {}
    methods = [k for k in results[0] if k not in ("n", "seed")]
    for n in sorted({r["n"] for r in results}):
        rows = [r for r in results if r["n"] == n]
        for m in methods:
            out.setdefault(m, {})[f"mape@{n}"] = round(float(np.mean([r[m]["mape_pct"] for r in rows])), 2)
            out[m][f"rho@{n}"] = round(float(np.mean([r[m]["spearman"] for r in rows])), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--truth", choices=sorted(TRUTHS), default="ddr3-layer",
                        help="ddr3-layer: DDR3 and the layer-by-layer schedule; 28nm-ddr3: 28 nm and DDR3.")
    parser.add_argument("--no-scratch", action="store_true", help="Skip the from-scratch baselines.")
    args = parser.parse_args()
    big = dict(networks=60, train_rows=8000, val_rows=2000, epochs=20, hidden=48, scratch_epochs=100)
    small = dict(networks=30, train_rows=3000, val_rows=1000, epochs=6, hidden=32, scratch_epochs=40)
    for k, v in (small if args.quick else big).items():
        setattr(args, k, v)
    if args.quick:
        args.seeds = min(args.seeds, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-range notes on few-shot models; scores are what counts here
        result = run(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
