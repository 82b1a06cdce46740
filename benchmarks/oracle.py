"""Oracle benchmark: analytical throughput, speed against ZigZag, generation rate, agreement.

    .venv/bin/python benchmarks/oracle.py [--quick]
    HWPOWER_STREAM_PYTHON=/path/to/python3.12-with-stream-dse .venv/bin/python benchmarks/oracle.py --stream

Prints progress lines, then one JSON object on the last line. Targets (issue 3): >= 1,000,000 layer
evaluations/s; >= 10,000x ZigZag's speed per layer; 1,000,000 generated rows in <= 60 s; Spearman
>= 0.9 between the two for per-layer energy and latency; Eyeriss power within 2x of silicon.
``--quick`` (under 60 s) uses smaller sizes, times ZigZag on one layer and skips the cross-check.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hwpower.generate import GenerateConfig, generate
from hwpower.networks import sample_networks
from hwpower.networks.layers import Layer, LayerOp, LayerTable
from hwpower.oracle import HardwareSpace, Oracle, OracleSettings
from hwpower.oracle.calibration import eyeriss_alexnet

# A small layer for the side-by-side timing (ZigZag takes seconds on it).
PROBE_LAYER = Layer("probe", LayerOp.CONV, 32, 64, 28, 28, kernel=3)
WARMUP_LAYER = Layer("warm-up", LayerOp.CONV, 16, 16, 14, 14, kernel=1)
PROBE_HW = {"pe_rows": 16, "pe_cols": 16, "rf_bytes": 64, "glb_kib": 256, "dram_gbps": 8.0, "freq_mhz": 500,
            "bits": 8, "dataflow": "ws"}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def throughput(n_configs: int, schedule: str = "fused") -> dict[str, Any]:
    """``fused`` (the default schedule) also computes every activation's residency per configuration."""
    net = sample_networks("ofa-mbv3", 1, seed=0)[0]
    hw = HardwareSpace.default().sample(n_configs, seed=1)
    oracle = Oracle(OracleSettings(schedule=schedule))
    t = best_of(lambda: oracle.evaluate(net, hw), 3)
    n_layers = len(net.layers)
    return {"configs": n_configs, "layers": n_layers, "schedule": schedule, "seconds": t,
            "layer_evals_per_s": n_configs * n_layers / t}


def stream_agreement() -> dict[str, Any]:
    """Stream (stream-dse 2.1.1, its own Python >= 3.12 named by HWPOWER_STREAM_PYTHON) against the
    oracle on small networks, fused and layer by layer (docs/oracle.md, "Stream cross-check")."""
    from hwpower.oracle.peers.stream_check import cross_check, stream_python

    if stream_python() is None:
        return {"result": None, "reason": "no Python with stream-dse: set HWPOWER_STREAM_PYTHON"}
    t = time.perf_counter()
    result = cross_check()
    table = result.pop("table")
    return {"result": result, "seconds": time.perf_counter() - t, "stream_s_median": float(table["stream_s"].median())}


def grid_search() -> dict[str, Any]:
    """Exhaustive oracle evaluation of one network over every grid point (what a search verifies)."""
    space = HardwareSpace.default()
    net = sample_networks("ofa-mbv3", 1, seed=0)[0]
    t = time.perf_counter()
    grid = space.grid_frame()
    out = Oracle().evaluate(net, grid)
    best = int(out["energy_mj"].to_numpy().argmin())
    return {"grid_points": len(grid), "seconds": time.perf_counter() - t,
            "min_energy_mj": float(out["energy_mj"].iloc[best])}


def zigzag_speed(analytical_s_per_layer: float) -> dict[str, Any]:
    try:
        from hwpower.oracle.zigzag_backend import ZigZagOracle
    except ImportError as exc:
        return {"zigzag_s_per_layer": None, "speed_ratio": None, "reason": f"ZigZag backend unavailable: {exc}"}
    zz_oracle = ZigZagOracle()
    t = time.perf_counter()
    zz_oracle.layer_cost(WARMUP_LAYER, PROBE_HW)  # the first call also pays ZigZag's one-off set-up
    first = time.perf_counter() - t
    t = time.perf_counter()
    zz_oracle.layer_cost(PROBE_LAYER, PROBE_HW)  # another shape: not in the object's cache
    zz = time.perf_counter() - t
    table = LayerTable.from_layers([PROBE_LAYER])
    hw = {k: np.full(20000, v, dtype=object if isinstance(v, str) else float) for k, v in PROBE_HW.items()}
    ours = best_of(lambda: Oracle().evaluate_layers(table, hw), 3) / 20000
    return {"zigzag_s_per_layer": zz, "zigzag_s_first_call": first, "analytical_s_per_layer_same_layer": ours,
            "analytical_s_per_layer_network": analytical_s_per_layer, "speed_ratio": zz / ours,
            "layer": "conv 3x3, 32->64 channels, 28x28, on 16x16 PEs"}


def zigzag_agreement(quick: bool) -> dict[str, Any]:
    if quick:
        return {"result": None, "reason": "skipped with --quick (50 ZigZag runs take minutes)"}
    try:
        from hwpower.oracle.zigzag_backend import cross_check
    except ImportError as exc:
        return {"result": None, "reason": f"hwpower.oracle.zigzag_backend.cross_check unavailable: {exc}"}
    t = time.perf_counter()
    result = {k: v for k, v in cross_check(n_pairs=50, seed=0).items() if k != "table"}  # table: a DataFrame
    return {"result": result, "seconds": time.perf_counter() - t}


def generation(rows: int) -> dict[str, Any]:
    """``rows`` in total, 90 % train and 10 % val, 50 sampled + 5 reference networks."""
    config = GenerateConfig(networks=50, train_rows=rows - rows // 10, val_rows=rows // 10, seed=0, shards=8)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        generate(Path(tmp) / "raw", config)
        dt = time.perf_counter() - t
    total = config.train_rows + config.val_rows
    return {"rows": total, "seconds": dt, "rows_per_s": total / dt, "s_per_million_rows": dt * 1e6 / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Finish within 60 s.")
    parser.add_argument("--stream", action="store_true", help="Only the Stream cross-check (minutes).")
    args = parser.parse_args()
    if args.stream:
        say("Stream cross-check ...")
        print(json.dumps({"benchmark": "oracle-stream", "stream": stream_agreement()}, default=float))
        return
    quick = args.quick
    result: dict[str, Any] = {"benchmark": "oracle", "quick": quick}
    say("throughput ...")
    result["throughput"] = tp = throughput(20_000 if quick else 200_000)
    result["throughput_layer"] = tl = throughput(20_000 if quick else 200_000, "layer")
    say(f"  {tp['layer_evals_per_s']:.3g} layer evaluations/s fused, {tl['layer_evals_per_s']:.3g} layer by layer")
    if not quick:
        say("exhaustive grid ...")
        result["grid_search"] = grid_search()
    say("ZigZag side by side ...")
    result["zigzag_speed"] = zigzag_speed(1.0 / tp["layer_evals_per_s"])
    say("ZigZag agreement (50 pairs) ..." if not quick else "ZigZag agreement: skipped with --quick")
    result["zigzag_agreement"] = agree = zigzag_agreement(quick)
    say("generate ...")
    result["generate"] = gen = generation(100_000 if quick else 1_000_000)
    say(f"  {gen['rows_per_s']:.3g} rows/s")
    cal = eyeriss_alexnet()
    result["eyeriss"] = {"power_core_w": cal.power_core_w, "published_w": cal.published_power_w,
                         "ratio": cal.ratio, "fps": cal.fps, "published_fps": cal.published_fps}
    speed = result["zigzag_speed"].get("speed_ratio")
    result["targets"] = {
        "layer_evals_per_s>=1e6": tp["layer_evals_per_s"] >= 1e6,  # with fusion on (the default)
        "zigzag_speed_ratio>=1e4": None if speed is None else speed >= 1e4,
        "1M_rows_in<=60s": gen["s_per_million_rows"] <= 60,
        "eyeriss_within_2x": 0.5 <= cal.ratio <= 2,
        "zigzag_spearman>=0.9": None if agree["result"] is None else bool(
            min(agree["result"]["spearman_energy"], agree["result"]["spearman_latency"]) >= 0.9),
    }
    print(json.dumps(result, default=float))  # numpy scalars as plain numbers


if __name__ == "__main__":
    main()
