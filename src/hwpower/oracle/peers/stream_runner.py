"""Run Stream (stream-dse 2.1.1) on one prepared case; executed by a Python that has Stream.

Stream needs Python >= 3.12 while hwpower supports 3.11, so :mod:`.stream_check` writes the inputs
(ONNX workload, accelerator and core YAML) and runs this file with Stream's interpreter::

    python stream_runner.py CASE.json

CASE.json: ``{"hardware": PATH, "workload": PATH, "out": DIR, "schedules": ["fused", "layer"],
"time_limit_s": 60}``. Prints one JSON object: per schedule the cycles, energy (pJ, nodes and
transfers, summed over fused groups), the number of groups and the wall time. Imports nothing of
hwpower, so it runs in a separate environment.
"""

from __future__ import annotations

import json
import logging
import sys
import time


def _energy(ctx) -> dict[str, float]:
    node = transfer = 0.0
    for alloc in ctx.get("group_allocations").values():
        energy = ((alloc or {}).get("performance") or {}).get("energy")
        if energy is None:
            raise RuntimeError("Stream reported no energy (is the energy constraint family on?)")
        iterations = energy["total_pj"] / max(energy["per_iteration_pj"], 1e-30)
        node += energy["node_pj_per_iteration"] * iterations
        transfer += energy["transfer_pj_per_iteration"] * iterations
    return {"node_pj": node, "transfer_pj": transfer, "energy_pj": node + transfer}


def run(case: dict) -> dict:
    from stream.api import SolveOptions, evaluate_mapping  # noqa: PLC0415 -- Stream's interpreter only

    out = {}
    for schedule in case["schedules"]:
        # None: Stream's mapping generator chooses the fusion groups (layer fusion); "per-layer":
        # every layer its own group, every tensor between groups through DRAM.
        cuts = {"fused": None, "layer": "per-layer"}[schedule]
        options = SolveOptions(artifacts=False, time_limit_s=float(case.get("time_limit_s", 60)),
                               stage_options={"fusion_cut_points": cuts} if cuts else {})
        t = time.perf_counter()
        est = evaluate_mapping(case["hardware"], case["workload"], f"{case['out']}/{schedule}", options=options)
        out[schedule] = {"cycles": float(est.cycles), "groups": len(est.group_cycles),
                         "seconds": time.perf_counter() - t, **_energy(est.context)}
    return out


def main() -> None:
    logging.disable(logging.WARNING)  # Stream logs per stage; the caller wants one JSON line
    with open(sys.argv[1]) as f:
        case = json.load(f)
    print(json.dumps(run(case)))


if __name__ == "__main__":
    main()
