"""Cross-check the oracle's schedules against Stream (stream-dse 2.1.1) on small networks.

Stream (Symons et al., KU Leuven) costs a whole workload on a multi-core accelerator with
layer-fused scheduling, each core's cost from ZigZag. We translate, as the ZigZag cross-check does
(:mod:`..zigzag_translate`), one hwpower configuration into one Stream compute core (the PE array,
the register file and the global buffer, at the oracle's energies and DVFS voltage) plus Stream's
off-chip core (DRAM at ``dram_gbps``), and a small operator graph into an ONNX workload. Stream
runs twice per case: fused (its mapping generator picks the fusion groups) and layer by layer
(every layer its own group). Leakage and DRAM background power are charged over Stream's latency,
as in the ZigZag cross-check; Stream models neither.

Stream needs Python >= 3.12 (hwpower: >= 3.11), so it runs in its own interpreter:
``HWPOWER_STREAM_PYTHON`` names it (default: this interpreter, if it can import Stream), and
:mod:`.stream_runner` is the script it runs. docs/oracle.md ("Stream cross-check") has the figures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress
from scipy.stats import spearmanr

from ...errors import HwpowerError
from ...networks.graph import GraphNetwork
from ...networks.layers import LayerOp
from ...networks.ops import Op
from ..model import Oracle
from ..settings import OracleSettings
from ..zigzag_oracle import zigzag_hardware
from ..zigzag_translate import accelerator_data
from . import rank_agreement

PYTHON_ENV = "HWPOWER_STREAM_PYTHON"
RUNNER = Path(__file__).with_name("stream_runner.py")
SCHEDULES = ("fused", "layer")


def stream_python() -> str | None:
    """The interpreter that runs Stream: $HWPOWER_STREAM_PYTHON, else this one if it has Stream."""
    env = os.environ.get(PYTHON_ENV)
    if env:
        return env
    has = importlib.util.find_spec("stream") is not None and importlib.util.find_spec("stream.api") is not None
    return sys.executable if has else None


# -- workloads ---------------------------------------------------------------------------------------
def _conv(name: str, src: str, shape: tuple, out_c: int, k: int, stride: int = 1, groups: int = 1) -> Op:
    n, _, h, w = shape
    size = (h + 2 * (k // 2) - k) // stride + 1
    return Op.build(name, "conv2d", [src], [shape], (n, out_c, size, size), kernel=k, stride=stride,
                    padding=k // 2, groups=groups)


def resnet_block(c: int = 16, size: int = 16) -> GraphNetwork:
    """ResNet basic block: two 3x3 convolutions and the residual add (the input held until then)."""
    x = (1, c, size, size)
    a = _conv("conv_a", "x", x, c, 3)
    b = _conv("conv_b", "conv_a", a.out_shape, c, 3)
    add = Op.build("add", "eltwise", ["conv_b", "x"], [b.out_shape, x], x, fn="add")
    return GraphNetwork.build([a, b, add], {"x": x}, name=f"resnet_block_c{c}_s{size}")


def inverted_residual(c: int = 16, expand: int = 4, size: int = 16) -> GraphNetwork:
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, residual add."""
    x, e = (1, c, size, size), c * expand
    pw = _conv("expand", "x", x, e, 1)
    dw = _conv("depthwise", "expand", pw.out_shape, e, 3, groups=e)
    pj = _conv("project", "depthwise", dw.out_shape, c, 1)
    add = Op.build("add", "eltwise", ["project", "x"], [pj.out_shape, x], x, fn="add")
    return GraphNetwork.build([pw, dw, pj, add], {"x": x}, name=f"mbv2_block_c{c}_s{size}")


def conv_chain(c: int = 16, size: int = 16, depth: int = 2) -> GraphNetwork:
    """``depth`` 3x3 convolutions in a row (the smallest fused stack)."""
    shape, ops, src = (1, c, size, size), [], "x"
    for i in range(depth):
        ops.append(_conv(f"conv{i}", src, shape if not ops else ops[-1].out_shape, c, 3))
        src = ops[-1].name
    return GraphNetwork.build(ops, {"x": shape}, name=f"conv_chain{depth}_c{c}_s{size}")


def onnx_bytes(net: GraphNetwork, bits: int) -> bytes:
    """The network as an ONNX model (conv2d and add only; weights as shapes without values)."""
    import onnx  # noqa: PLC0415 -- optional (the imports extra); only the Stream check needs it
    from onnx import TensorProto, helper

    dtype = {8: TensorProto.INT8, 16: TensorProto.INT16}[bits]
    # Stream's lowering mixes up a tensor and a node of the same name: tensors get a suffix.
    t = {**{k: k for k, _ in net.inputs}, **{op.name: f"{op.name}_out" for op in net.ops}}
    nodes, inits = [], []
    for op in net.ops:
        if op.kind is LayerOp.CONV:
            (kh, kw), (sh, sw), (ph, pw) = (op.attr(a) for a in ("kernel", "stride", "padding"))
            g, c_in = op.attr("groups"), op.in_shapes[0][1]
            dims = [op.out_shape[1], c_in // g, kh, kw]
            w = helper.make_tensor(f"{op.name}_w", dtype, dims, np.zeros(int(np.prod(dims)), dtype=np.int64))
            for field in ("int32_data", "raw_data"):  # Stream costs shapes: drop the values
                w.ClearField(field)
            inits.append(w)
            nodes.append(helper.make_node("Conv", [t[op.inputs[0]], w.name], [t[op.name]], name=op.name,
                                          kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw], group=g))
        elif op.kind is LayerOp.ELTWISE and op.attr("fn") == "add":
            nodes.append(helper.make_node("Add", [t[x] for x in op.inputs], [t[op.name]], name=op.name))
        else:
            raise HwpowerError(f"{op.name}: the Stream translation covers conv2d and add, not {op.kind_name}")
    vi = lambda name, shape: helper.make_tensor_value_info(name, dtype, list(shape))  # noqa: E731
    graph = helper.make_graph(nodes, net.name or "net", [vi(k, s) for k, s in net.inputs],
                              [vi(t[net.ops[-1].name], net.ops[-1].out_shape)], initializer=inits,
                              value_info=[vi(t[op.name], op.out_shape) for op in net.ops[:-1]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model).SerializeToString()


# -- hardware ----------------------------------------------------------------------------------------
def hardware_files(hw: dict[str, Any], settings: OracleSettings, folder: Path) -> tuple[Path, float]:
    """Write the accelerator (one compute core, the off-chip core, a bus at the DRAM bandwidth) as
    YAML (JSON, which YAML reads); returns its path and the static power (W) Stream does not model."""
    zz, p_leak, p_bg = zigzag_hardware(hw, settings)
    data = accelerator_data(zz)
    mem = data["memories"]
    precision = {8: "int8", 16: "int16"}[zz.bits]
    compute = {"name": "hwpower_core", "type": "compute", "memories": {"rf": mem["rf"], "glb": mem["glb"]},
               "operational_array": data["operational_array"],
               "operand_precision": {"input": precision, "accumulator": precision}}
    offchip = {"name": "offchip", "type": "zigzag.offchip", "memories": {"dram": mem["dram"]},
               "operational_array": {"unit_energy": 0, "unit_area": 0, "dimensions": ["D1", "D2"], "sizes": [0, 0]}}
    # Stream wants integer core ids as keys, which JSON cannot write: this file is YAML proper.
    bus = {"type": "bus", "cores": [0, 1], "bandwidth": zz.dram_bits_per_cycle}
    system = ("name: hwpower_single_core\ncores:\n  0: core.yaml\n  1: offchip.yaml\noffchip_core_id: 1\n"
              f"unit_energy_cost: 0\ncore_connectivity:\n  - {json.dumps(bus)}\n")
    for name, content in (("core.yaml", compute), ("offchip.yaml", offchip)):
        (folder / name).write_text(json.dumps(content, indent=1))
    (folder / "accelerator.yaml").write_text(system)
    return folder / "accelerator.yaml", p_leak + p_bg


# -- running and comparing ---------------------------------------------------------------------------
def run_stream(net: GraphNetwork, hw: dict[str, Any], settings: OracleSettings = OracleSettings(),
               python: str | None = None, time_limit_s: float = 60, timeout_s: float = 900,
               pin_dataflow: bool = True) -> dict[str, Any]:
    """Stream's cycles, energy (pJ, static power over its latency included) and latency per schedule.
    ``pin_dataflow``: hint every convolution's spatial unrolling to the oracle's dataflow (as the
    ZigZag check does; :mod:`.stream_runner`); False lets Stream's ZigZag unroll any loop."""
    python = python or stream_python()
    if python is None:
        raise HwpowerError(f"no Python with stream-dse: set {PYTHON_ENV} to one (Stream needs Python >= 3.12)")
    with tempfile.TemporaryDirectory(prefix="hwpower-stream-") as tmp:
        folder = Path(tmp)
        accel, p_static = hardware_files(hw, settings, folder)
        (folder / "net.onnx").write_bytes(onnx_bytes(net, int(hw["bits"])))
        case = {"hardware": str(accel), "workload": str(folder / "net.onnx"), "out": str(folder / "out"),
                "schedules": list(SCHEDULES), "time_limit_s": time_limit_s,
                "dataflow": str(hw["dataflow"]) if pin_dataflow else None}
        (folder / "case.json").write_text(json.dumps(case))
        done = subprocess.run([python, str(RUNNER), str(folder / "case.json")], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise HwpowerError(f"Stream failed on {net.name}: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for schedule, r in result.items():
        if r.get("fallback_nodes"):  # costed at an ideal cycle count and zero energy: no comparison
            raise HwpowerError(f"Stream could not cost {r['fallback_nodes']} of {net.name} ({schedule} schedule) "
                               "with ZigZag and fell back to an ideal cycle count at zero energy")
        r["latency_s"] = r["cycles"] / (float(hw["freq_mhz"]) * 1e6)
        r["static_pj"] = p_static * r["latency_s"] * 1e12
        r["energy_total_pj"] = r["energy_pj"] + r["static_pj"]
    return result


def default_cases() -> list[tuple[GraphNetwork, dict[str, Any]]]:
    """Five small networks on four configurations: small to large buffers and arrays, both
    dataflows (20 cases, 40 Stream runs: about 10 minutes on two busy cores). Feature maps from
    4 KiB (fit every buffer) to 50 KiB (fit only the larger ones) exercise the residency rule."""
    base = {"pe_rows": 16, "pe_cols": 16, "rf_bytes": 64, "dram_gbps": 8.0, "freq_mhz": 500, "bits": 8,
            "dataflow": "ws"}
    configs = [{**base, "glb_kib": 16}, {**base, "glb_kib": 256, "dataflow": "os"},
               {**base, "glb_kib": 64, "pe_rows": 8, "pe_cols": 8, "dram_gbps": 2.0},
               {**base, "glb_kib": 1024, "pe_rows": 32, "pe_cols": 32, "freq_mhz": 800, "dataflow": "os"}]
    nets = [conv_chain(), resnet_block(), inverted_residual(), resnet_block(32, 28), resnet_block(16, 56)]
    return [(n, c) for n in nets for c in configs]


def _ours(net: GraphNetwork, hw: dict[str, Any], settings: OracleSettings) -> dict[str, dict[str, float]]:
    out = {}
    for schedule in SCHEDULES:
        b = Oracle(_with_schedule(settings, schedule)).breakdown(net, hw)
        out[schedule] = {"energy_pj": float(b["energy_mj"].sum()) * 1e9, "latency_s": float(b["latency_ms"].sum()) * 1e-3,
                         "dram_pj": float(b["dram_mj"].sum()) * 1e9}
    return out


def _with_schedule(settings: OracleSettings, schedule: str) -> OracleSettings:
    return OracleSettings(**{**{k: getattr(settings, k) for k in settings.__dataclass_fields__}, "schedule": schedule})


def cross_check(cases: list[tuple[GraphNetwork, dict[str, Any]]] | None = None,
                settings: OracleSettings = OracleSettings(), python: str | None = None,
                time_limit_s: float = 60, pin_dataflow: bool = True) -> dict[str, Any]:
    """Stream against the oracle, both schedules, on ``cases`` (default :func:`default_cases`).

    Returns Spearman rank agreement and median ratios (Stream / oracle) of energy and latency per
    schedule, the median fused/layer energy ratio of each side, and ``table`` (a DataFrame)."""
    rows, cases = [], cases or default_cases()
    with Progress(transient=True) as progress:
        task = progress.add_task("Stream cross-check", total=len(cases))
        for net, hw in cases:
            theirs = run_stream(net, hw, settings, python, time_limit_s, pin_dataflow=pin_dataflow)
            rows += _rows(net, hw, theirs, _ours(net, hw, settings))
            progress.advance(task)
    table = pd.DataFrame(rows)
    return {**summary(table), "table": table}


def _rows(net: GraphNetwork, hw: dict[str, Any], theirs: dict, ours: dict) -> list[dict[str, Any]]:
    rows = []
    for s in SCHEDULES:
        rows.append({"network": net.name, "schedule": s, **hw,
                     "energy_stream_mj": theirs[s]["energy_total_pj"] * 1e-9,
                     "energy_oracle_mj": ours[s]["energy_pj"] * 1e-9,
                     "latency_stream_ms": theirs[s]["latency_s"] * 1e3,
                     "latency_oracle_ms": ours[s]["latency_s"] * 1e3,
                     "transfer_stream_mj": theirs[s]["transfer_pj"] * 1e-9, "dram_oracle_mj": ours[s]["dram_pj"] * 1e-9,
                     "groups_stream": theirs[s]["groups"], "stream_s": theirs[s]["seconds"]})
    return rows


def _agreement(t: pd.DataFrame) -> dict[str, float]:
    return rank_agreement(t, peer="stream", ours="oracle")


def summary(table: pd.DataFrame) -> dict[str, Any]:
    """Stream / oracle agreement per schedule, both pooled, the fused schedule per dataflow, and the
    saving of fusion (fused / layer energy) on each side with its rank agreement."""
    out: dict[str, Any] = {"n_cases": int(len(table) // len(SCHEDULES)), "pooled": _agreement(table)}
    for s, t in table.groupby("schedule"):
        out[s] = _agreement(t)
    fused = table[table["schedule"] == "fused"]
    out["fused_by_dataflow"] = {d: _agreement(t) for d, t in fused.groupby("dataflow") if len(t) >= 3}
    keys = ["network", "glb_kib", "pe_rows", "dram_gbps", "freq_mhz", "dataflow"]
    wide = table.pivot_table(index=keys, columns="schedule", values=["energy_stream_mj", "energy_oracle_mj"])
    saving = {side: wide[(f"energy_{side}_mj", "fused")] / wide[(f"energy_{side}_mj", "layer")]
              for side in ("stream", "oracle")}
    out["fused_over_layer_energy"] = {f"median_{side}": float(np.median(r)) for side, r in saving.items()}
    out["fused_over_layer_energy"]["spearman"] = float(spearmanr(saving["stream"], saving["oracle"]).statistic)
    return out
