"""Batched CPU inference rate of the structured predictor alone (issue 12 item 7), side by side:
physics v1 and v2, eager and ``compile=True``, at 1 and 2 torch threads (``predictor.throughput``).

The models are untrained (speed needs no weights) and built on the dataset's encoders, so any
processed dataset serves; the benchmark's is the leave-family-out 100,000-row fold
(``benchmarks/predictor.py --leave-family-out``, cached under its ``--cache``):

    .venv/bin/python benchmarks/inference.py --data /tmp/pred/lfo_cache/all-n1000-t100000-v10000-s0/processed
    .venv/bin/python benchmarks/inference.py --quick    # a small generated dataset, under 60 s

Prints one line per width and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hwpower.model import NeuralPowerModel, Predictor
from hwpower.processing import load_processed
from predictor import quick_data, throughput  # benchmarks/ is on sys.path when this file runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="processed dataset (its validation rows are scored)")
    ap.add_argument("--quick", action="store_true", help="a small generated dataset (< 60 s)")
    ap.add_argument("--hidden", default="32,48", help="structured model widths, comma-separated")
    ap.add_argument("--rows", type=int, default=50_000, help="validation rows to predict (at most all)")
    args = ap.parse_args()
    if args.data is None and not args.quick:
        ap.error("give --data PROCESSED or --quick")
    t0 = time.perf_counter()
    out: dict = {"benchmark": "inference", "quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_processed(quick_data(Path(tmp)) if args.quick else args.data)
        for width in (int(h) for h in args.hidden.split(",")):
            model = NeuralPowerModel(targets=("P_core", "P_bw", "latency_ms"), hidden=width, device="cpu")
            model.setup(ds)
            rates = throughput(Predictor(model), ds, 2_000 if args.quick else args.rows)
            print(f"hidden {width}: {rates}", flush=True)
            out[f"hidden_{width}"] = rates
    best = max(v for r in (out[k] for k in out if k.startswith("hidden_")) for k2, v in r.items()
               if k2.startswith("physics_v2"))
    out.update(best_v2_per_s=best, target_100k_met=best >= 100_000, seconds=round(time.perf_counter() - t0, 1))
    print(json.dumps(out))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
