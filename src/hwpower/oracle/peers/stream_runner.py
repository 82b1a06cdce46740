"""Run Stream (stream-dse 2.1.1) on one prepared case; executed by a Python that has Stream.

Stream needs Python >= 3.12 while hwpower supports 3.11, so :mod:`.stream_check` writes the inputs
(ONNX workload, accelerator and core YAML) and runs this file with Stream's interpreter::

    python stream_runner.py CASE.json

CASE.json: ``{"hardware": PATH, "workload": PATH, "out": DIR, "schedules": ["fused", "layer"],
"time_limit_s": 60, "dataflow": "ws" | "os" | null}``. Prints one JSON object: per schedule the
cycles, energy (pJ, nodes and transfers, summed over fused groups), the number of groups and the
wall time. Imports nothing of hwpower, so it runs in a separate environment.

``dataflow`` gives every convolution ZigZag's spatial-mapping hint of the oracle's dataflow, as the
ZigZag cross-check does (``zigzag_translate.mapping_data``): weight stationary unrolls input
channels and kernel taps on the rows and output channels on the columns; output stationary, output
pixels on the rows and output channels and groups on the columns. Stream passes ZigZag no hint of
its own (``ZigZagCostEstimator.get_mapping_attributes``), so without one ZigZag unrolls any loop, a
different mapping from the oracle's (e.g. a depthwise layer's channels on a weight-stationary array).
null leaves Stream's choice.

A depthwise convolution is given to Stream over (b, ox, oy, fx, fy, k) with the channel k indexing
input, weight and output alike, as ZigZag writes depthwise layers; Stream's grouped form (channel =
g * 1 + k, a sum of two loops) makes ZigZag find no loop ordering, and Stream then falls back to an
ideal cycle count at zero energy. The runner counts such fallbacks (``fallback_nodes``), which a
comparison must not contain.
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


# Stream names a node's loops D0, D1, ... in its own order; a 2-D convolution's is (b, ox, oy, fx, fy,
# c, k), then the group g when grouped (stream/parser/onnx/conv.py); a depthwise one here (b, ox, oy,
# fx, fy, k) (six loops). Array axes: D1 rows, D2 columns. The oracle maps a depthwise layer's taps
# (ws: one column, the channels in time; D0 = b, of size 1, holds the columns) or its pixels and
# channels (os), as its Geometry does.
CONV_HINTS = {"ws": {"D1": ("D5", "D3", "D4"), "D2": ("D6",)},
              "os": {"D1": ("D1", "D2"), "D2": ("D6", "D7")}}
DEPTHWISE_HINTS = {"ws": {"D1": ("D3", "D4"), "D2": ("D0",)}, "os": {"D1": ("D1", "D2"), "D2": ("D5",)}}
FALLBACKS: list[str] = []  # nodes Stream costed at an ideal cycle count and zero energy


def depthwise_as_channels() -> None:
    """Parse a depthwise convolution (groups = channels, one input channel per group) over a single
    channel loop k, as ZigZag's depthwise layers are written: I[b][k][iy][ix], W[k][fy][fx]."""
    from stream.parser.onnx import conv  # noqa: PLC0415
    from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap  # noqa: PLC0415

    original = conv.conv_maps

    def maps(activation, weight, biased, window, groups):
        if groups == 1 or weight.shape[1] != 1 or weight.shape[0] != groups:
            return original(activation, weight, biased, window, groups)
        b, ox, oy, fx, fy, k = (AffineDimExpr(i) for i in range(6))
        results = [(b, k, *conv.window_index((oy, ox), (fy, fx), *window)), (k, AffineConstantExpr(0), fy, fx)]
        results += [(k,)] * biased + [(b, k, oy, ox)]
        return tuple(AffineMap(6, 0, tuple(r)) for r in results)

    conv.conv_maps = maps


def count_fallbacks() -> None:
    from stream.stages.estimation import zigzag_cost_estimator as zce  # noqa: PLC0415

    original = zce.ZigZagCostEstimator.estimate

    def estimate(self, node, core):
        entry = original(self, node, core)
        if entry.cme is None:
            FALLBACKS.append(node.name)
        return entry

    zce.ZigZagCostEstimator.estimate = estimate


def pin_dataflow(dataflow: str) -> None:
    """Make Stream's ZigZag calls hint the oracle's spatial unrolling for every convolution."""
    from stream.stages.estimation import zigzag_cost_estimator as zce  # noqa: PLC0415
    from zigzag.datatypes import LayerDim, OADimension  # noqa: PLC0415

    original = zce.ZigZagCostEstimator.get_mapping_attributes

    def hinted(self, node, core):
        attrs = original(self, node, core)
        if node.type == "Conv":
            loops = {f"D{i}" for i in range(node.num_dims)}
            hints = DEPTHWISE_HINTS if node.num_dims == 6 else CONV_HINTS
            hint = {OADimension(axis): {LayerDim(d) for d in dims if d in loops}
                    for axis, dims in hints[dataflow].items()}
            attrs.spatial_mapping_hint = zce.ZigZagSpatialMappingHint({k: v for k, v in hint.items() if v})
        return attrs

    zce.ZigZagCostEstimator.get_mapping_attributes = hinted


def run(case: dict) -> dict:
    from stream.api import SolveOptions, evaluate_mapping  # noqa: PLC0415 -- Stream's interpreter only

    depthwise_as_channels()
    count_fallbacks()
    if case.get("dataflow"):
        pin_dataflow(case["dataflow"])

    out = {}
    for schedule in case["schedules"]:
        # None: Stream's mapping generator chooses the fusion groups (layer fusion); "per-layer":
        # every layer its own group, every tensor between groups through DRAM.
        cuts = {"fused": None, "layer": "per-layer"}[schedule]
        options = SolveOptions(artifacts=False, time_limit_s=float(case.get("time_limit_s", 60)),
                               stage_options={"fusion_cut_points": cuts} if cuts else {})
        t = time.perf_counter()
        FALLBACKS.clear()
        est = evaluate_mapping(case["hardware"], case["workload"], f"{case['out']}/{schedule}", options=options)
        out[schedule] = {"cycles": float(est.cycles), "groups": len(est.group_cycles),
                         "seconds": time.perf_counter() - t, "fallback_nodes": sorted(set(FALLBACKS)),
                         **_energy(est.context)}
    return out


def main() -> None:
    logging.disable(logging.WARNING)  # Stream logs per stage; the caller wants one JSON line
    with open(sys.argv[1]) as f:
        case = json.load(f)
    print(json.dumps(run(case)))


if __name__ == "__main__":
    main()
