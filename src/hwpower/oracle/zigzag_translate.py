"""Translate hwpower hardware and layers into ZigZag (zigzag-dse 3.9) inputs, as Python data.

ZigZag's parsers accept the same dictionaries its YAML files hold; building them in memory and
handing ZigZag the parsed objects skips file I/O and YAML parsing (see zigzag_run.run_layer).

Modelling choices (the hardware the analytical oracle describes, docs/oracle.md):

- Operational array: ``pe_rows`` (D1) x ``pe_cols`` (D2) multipliers of ``mac_pj`` each.
- Spatial unrolling: weight stationary unrolls the reduction (input channels and kernel taps) on
  rows and output channels on columns; output stationary unrolls output pixels on rows and output
  channels (and depthwise groups) on columns.
- One register file of ``rf_bytes`` per PE holds the three operands (ZigZag checks they fit
  together); a global buffer of ``glb_kib`` feeding ``pe_rows + pe_cols`` words per cycle; DRAM
  with ``dram_gbps`` at ``freq_mhz``, i.e. ``dram_gbps * 8000 / freq_mhz`` bits per cycle.
- ZigZag has no interconnect energy, so the array-network energy of a word is added to the
  buffer's per-word access energy.
- Every MAC operator becomes ZigZag's convolution loop nest (:class:`LoopNest`): a linear layer is
  a 1x1 convolution over its rows, and a matmul A (.., M, K) x B (.., K, N) a grouped 1x1
  convolution with G = batch (heads), C = K, K = N, OX = M, whose W operand is B. Both operands
  of a matmul are activations: ``operand_source`` names other layers for both, so ZigZag holds no
  operand constant (its single-layer cost model fetches every operand from DRAM either way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..networks.layers import Layer, LayerOp
from ..networks.ops import Op, numel

# Partial sums travel at the datapath width, as the analytical oracle counts them (words of
# ``bits``); real arrays keep wider accumulators (see docs/oracle.md, cross-check section).
PSUM_WIDTH_FACTOR = 1
MAC_KINDS = (LayerOp.CONV, LayerOp.LINEAR, LayerOp.MATMUL)  # the operator kinds ZigZag costs


@dataclass(frozen=True)
class ZigZagHardware:
    """One accelerator, with every energy already evaluated at its supply voltage (pJ)."""

    pe_rows: int
    pe_cols: int
    rf_bytes: int
    glb_kib: float
    dram_bits_per_cycle: int
    bits: int
    dataflow: str
    mac_pj: float  # one multiply-accumulate
    rf_pj: float  # one register-file access of one ``bits`` word (read or write)
    glb_pj: float  # one buffer access of one word, plus its trip over the array network
    dram_pj_per_bit: float

    def __post_init__(self) -> None:
        if self.dataflow not in ("ws", "os"):
            raise InputError(f"dataflow must be 'ws' or 'os', got {self.dataflow!r}", where="hardware")
        if self.bits not in (8, 16):
            raise InputError(f"bits must be 8 or 16, got {self.bits}", where="hardware")
        for name in ("pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_bits_per_cycle"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}", where="hardware")
        for name in ("mac_pj", "rf_pj", "glb_pj", "dram_pj_per_bit"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise InputError(f"{name} must be a finite energy >= 0, got {getattr(self, name)}", where="hardware")

    @property
    def glb_width_bits(self) -> int:
        # The buffer is banked to feed the array's edges: one word per row and per column per cycle
        # (the analytical oracle's buffer bandwidth).
        return (self.pe_rows + self.pe_cols) * self.bits


def _port(name: str, kind: str, width: int, allocation: list[str], word: int) -> dict[str, Any]:
    # bandwidth_min is the access granularity (one word); ZigZag charges r_cost/w_cost per access of
    # bandwidth_max bits, so the costs below are per-word energies times words per port width.
    return {"name": name, "type": kind, "bandwidth_min": min(word, width), "bandwidth_max": width,
            "allocation": allocation}


def accelerator_data(hw: ZigZagHardware) -> dict[str, Any]:
    """ZigZag accelerator description (the dictionary its YAML files hold), lowest memory first."""
    b, glb_w, dram_w = hw.bits, hw.glb_width_bits, hw.dram_bits_per_cycle
    # Every operand and direction has its own RF port: a MAC per cycle is never port-bound there.
    rf_ports = [
        _port("r_port_1", "read", b, ["I1, tl"], b),
        _port("r_port_2", "read", b, ["I2, tl"], b),
        _port("r_port_3", "read", b, ["O, tl"], b),
        _port("r_port_4", "read", b, ["O, th"], b),
        _port("w_port_1", "write", b, ["I1, fh"], b),
        _port("w_port_2", "write", b, ["I2, fh"], b),
        _port("w_port_3", "write", b, ["O, fl"], b),
        _port("w_port_4", "write", b, ["O, fh"], b),
    ]
    glb_ports = [
        _port("r_port_1", "read", glb_w, ["I1, tl", "I2, tl", "O, tl", "O, th"], b),
        _port("w_port_1", "write", glb_w, ["I1, fh", "I2, fh", "O, fh", "O, fl"], b),
    ]
    dram_alloc = ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]
    glb_access_pj = hw.glb_pj * glb_w / b
    dram_access_pj = hw.dram_pj_per_bit * dram_w
    memories = {
        "rf": _memory(hw.rf_bytes * 8, hw.rf_pj, rf_ports, served=[]),
        "glb": _memory(int(hw.glb_kib * 1024 * 8), glb_access_pj, glb_ports, ["D1", "D2"]),
        "dram": _memory(10**12, dram_access_pj, [_port("rw_port_1", "read_write", dram_w, dram_alloc, b)],
                        ["D1", "D2"]),
    }
    return {
        "name": f"hwpower_{hw.dataflow}_{hw.pe_rows}x{hw.pe_cols}",
        "memories": memories,
        "operational_array": {
            "unit_energy": float(hw.mac_pj), "unit_area": 1.0,
            "dimensions": ["D1", "D2"], "sizes": [hw.pe_rows, hw.pe_cols],
        },
    }


def _memory(size_bits: int, access_pj: float, ports: list[dict], served: list[str]) -> dict[str, Any]:
    # Reads and writes cost the same, as in constants.sram_read_energy_pj.
    return {
        "size": int(size_bits), "r_cost": float(access_pj), "w_cost": float(access_pj), "area": 0.0,
        "latency": 1, "operands": ["I1", "I2", "O"], "ports": ports, "served_dimensions": served,
    }


@dataclass(frozen=True)
class LoopNest:
    """A MAC operator as ZigZag's loop nest O[b][g][k][oy][ox] += W[g][k][c][fy][fx] * I[b][g][c][iy][ix]."""

    name: str
    kind: str  # conv, pointwise, depthwise, fc or matmul (the cross-check groups by it)
    b: int
    g: int
    k: int
    c: int
    ox: int
    oy: int
    fx: int = 1
    fy: int = 1
    sx: int = 1
    sy: int = 1
    dx: int = 1
    dy: int = 1
    ix: int = 1
    iy: int = 1

    @property
    def macs(self) -> int:
        return self.b * self.g * self.k * self.c * self.ox * self.oy * self.fx * self.fy

    @property
    def key(self) -> tuple:
        """Everything but the name: two operators of the same shape cost the same."""
        return tuple(getattr(self, f) for f in self.__dataclass_fields__ if f != "name")


def _conv_kind(g: int, c: int, fx: int, fy: int) -> str:
    if g > 1 and c == 1:
        return "depthwise"
    return "pointwise" if fx == fy == 1 else "conv"


def _nest_of_layer(layer: Layer) -> LoopNest:
    if layer.op is LayerOp.LINEAR:  # a 1x1 convolution on a 1x1 input
        return LoopNest(layer.name, "fc", 1, 1, layer.out_channels, layer.in_channels, 1, 1)
    g, k = layer.groups, layer.kernel
    c = layer.in_channels // g
    return LoopNest(layer.name, _conv_kind(g, c, k, k), 1, g, layer.out_channels // g, c, layer.out_size,
                    layer.out_size, k, k, layer.stride, layer.stride, 1, 1, layer.in_size, layer.in_size)


def _nest_of_op(op: Op) -> LoopNest:
    if op.kind is LayerOp.CONV:
        (n, c, h, w), (_, k, p, q) = op.in_shapes[0], op.out_shape
        g = op.attr("groups")
        (fy, fx), (sy, sx), (dy, dx) = (op.attr(a) for a in ("kernel", "stride", "dilation"))
        return LoopNest(op.name, _conv_kind(g, c // g, fx, fy), n, g, k // g, c // g, q, p, fx, fy, sx, sy,
                        dx, dy, w, h)
    if op.kind is LayerOp.LINEAR:  # a 1x1 convolution over the rows
        rows = numel(op.out_shape[:-1])
        return LoopNest(op.name, "fc", 1, 1, op.out_shape[-1], op.in_shapes[0][-1], rows, 1, ix=rows)
    a, b = op.in_shapes  # MATMUL: grouped 1x1 convolution, W = B
    return LoopNest(op.name, "matmul", 1, numel(op.out_shape[:-2]), b[-1], a[-1], a[-2], 1, ix=a[-2])


def loop_nest(layer: Layer | Op) -> LoopNest:
    """The ZigZag loop nest of a convolution, linear or matmul layer (block layer or operator)."""
    if layer.op not in MAC_KINDS:
        raise InputError(f"ZigZag costs convolution, linear and matmul operators only, not {layer.op.name}",
                         where=layer.name)
    return _nest_of_op(layer) if isinstance(layer, Op) else _nest_of_layer(layer)


def mapping_data(layer: Layer | Op, hw: ZigZagHardware, pinned: int = 1) -> list[dict[str, Any]]:
    """ZigZag mapping entry for one layer: which loops the dataflow may unroll on each array axis.

    ZigZag picks the best-utilised mix of the hinted loops per axis, the per-dimension form of the
    oracle's flattened unrolling (weight stationary: Cg*RS on rows, Kg on columns; output
    stationary: output pixels on rows, G*Kg on columns). ``pinned`` innermost temporal loops are
    fixed to the dataflow's stationary ones.
    """
    n = loop_nest(layer)
    if hw.dataflow == "ws":
        hint = {"D1": ["C", "FX", "FY"], "D2": ["K"]}
        stationary = [("OX", n.ox), ("OY", n.oy)]
    else:
        hint = {"D1": ["OX", "OY"], "D2": ["K", "G"]}
        stationary = [("FX", n.fx), ("FY", n.fy), ("C", n.c)]
    # The innermost temporal loops are the ones that keep the dataflow's operand in place (weights
    # while output pixels stream; outputs while the reduction streams). Pinning them cuts LOMA's
    # loop orderings from n! to (n - pinned)!, 720 -> 120 for a 3x3 convolution with one pinned.
    inner = [[d, "*"] for d, size in stationary if size > 1][:pinned]
    entry: dict[str, Any] = {
        "spatial_mapping_hint": hint, "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"},
    }
    if inner:
        entry["temporal_ordering"] = inner
    # ZigZag looks the entry up by operator type and insists on a "default" one besides.
    return [{"name": "Conv", **entry}, {"name": "default", **entry}]


def _padding(out: int, stride: int, kernel: int, dilation: int, size: int) -> list[int]:
    # The padding that reproduces the output size: (out - 1) * stride + span = in + pad.
    pad = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    return [pad // 2, pad - pad // 2]


def workload_data(layer: Layer | Op, bits: int, layer_id: int = 0) -> list[dict[str, Any]]:
    """ZigZag workload for one convolution, fully connected or matmul layer (see :class:`LoopNest`)."""
    n = loop_nest(layer)
    data: dict[str, Any] = {
        "id": layer_id, "name": n.name or f"layer{layer_id}", "operator_type": "Conv",
        "equation": "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]",
        "loop_dims": ["B", "K", "G", "OX", "OY", "C", "FX", "FY"],
        "loop_sizes": [n.b, n.k, n.g, n.ox, n.oy, n.c, n.fx, n.fy],
        "dimension_relations": [f"ix={n.sx}*ox+{n.dx}*fx", f"iy={n.sy}*oy+{n.dy}*fy"],
        "operand_precision": {"W": bits, "I": bits, "O": PSUM_WIDTH_FACTOR * bits, "O_final": bits},
        "pr_loop_dims": ["IX", "IY"], "pr_loop_sizes": [n.ix, n.iy],
        "padding": [_padding(n.ox, n.sx, n.fx, n.dx, n.ix), _padding(n.oy, n.sy, n.fy, n.dy, n.iy)],
    }
    if n.kind == "matmul":  # both operands produced by earlier layers (ids that only need to differ)
        data["operand_source"] = {"I": layer_id + 1, "W": layer_id + 2}
    return [data]
