"""Coverage of the predictor's 90 % interval on zoo networks (docs/predictor.md, "Uncertainty").

A structured model is trained on the default generated data (the sampled search spaces, no
torchvision networks); its interval is calibrated on the held-out networks when training ends.
Then each torchvision reference network (ResNet-18/50, MobileNetV2/V3, EfficientNet-B0: never
seen in training) is run through the oracle on random hardware of the default space, and the share
of oracle values of P inside the predicted 90 % interval is counted.

    .venv/bin/python benchmarks/uncertainty.py [--quick] [--threads 1]

Prints one line per network and, last, one JSON line. ``--quick`` ends within about a minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from hwpower.generate import GenerateConfig, generate
from hwpower.model import train_model
from hwpower.networks.reference import reference_networks
from hwpower.oracle import Oracle
from hwpower.oracle.space import HardwareSpace
from hwpower.processing import process


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = GenerateConfig(networks=args.networks, train_rows=args.train_rows, val_rows=2000, seed=0, shards=1)
        generate(Path(tmp) / "raw", cfg)
        ds = process(Path(tmp) / "raw", Path(tmp) / "processed", progress=False)
        # inside the folder's lifetime: the processed tables are read when first used
        predictor = train_model(ds, "structured", progress=False, figures=False, epochs=args.epochs, hidden=48,
                                batch_size=256, seed=0, device="cpu")
    hw = HardwareSpace.default().sample(args.rows, 5)
    oracle, zoo = Oracle(), {}
    for name, net in reference_networks().items():
        truth = oracle.evaluate(net, hw)["P"].to_numpy()
        pred = predictor.predict(hw.assign(network=name), {name: net}, out_of_range="ignore", interval=0.9)
        inside = (truth >= pred["P_lo"].to_numpy()) & (truth <= pred["P_hi"].to_numpy())
        zoo[name] = {"coverage_pct": round(float(inside.mean() * 100), 1),
                     "mape_pct": round(float(np.mean(np.abs(pred["P"].to_numpy() / truth - 1)) * 100), 2)}
        print(name, zoo[name], flush=True)
    cal = predictor.calibration
    return {"benchmark": "uncertainty", "quick": args.quick, "rel_halfwidth_P": round(float(np.sinh(
                cal.log_half_width("P", 0.9))), 4),
            "validation_coverage_pct": cal.coverage, "zoo": zoo,
            "zoo_mean_coverage_pct": round(float(np.mean([z["coverage_pct"] for z in zoo.values()])), 1),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    sizes = dict(networks=30, train_rows=3000, epochs=6, rows=100) if args.quick else dict(
        networks=60, train_rows=8000, epochs=15, rows=300)
    for k, v in sizes.items():
        setattr(args, k, v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zoo networks lie partly outside the training support: counted, not shown
        result = run(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
