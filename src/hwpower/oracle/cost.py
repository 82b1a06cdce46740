"""The vectorised per-layer cost model: (configurations x layers) arrays, no loop over either.

Loop nest of a layer (batch 1): groups G, output channels per group Kg, input channels per group Cg,
output pixels PQ, kernel taps RS. Fully connected layers are 1x1 convolutions on one pixel; a matmul
A (.., M, K) x B (.., K, N) is G = batch, Cg*RS = K, Kg = N, PQ = M, with B as the stationary
operand (fetched like weights) and A streaming like inputs.

Where each operator kind runs (docs/oracle.md, "Operator kinds"):

- the PE array: MAC kinds (conv, linear, matmul); pooling and element-wise operators run their
  ``other_ops`` on the R*C PE adders and move their tensors through the array network;
- the vector unit (``VECTOR_KINDS``: normalization, softmax, upsampling): ``pe_cols`` lanes at the
  array's output edge, one op per lane per cycle at the add energy, reading and writing the global
  buffer directly (no register file, no array network);
- memory only (``MEMORY_KINDS``: data movement, embedding look-ups): DRAM and buffer traffic, no
  arithmetic; a view has no traffic either and costs nothing.

Spatial mapping on an R x C array (dimension D1 on rows, D2 on columns, T iterations in time):

- weight stationary (TPU-like): D1 = Cg*RS (the reduction, unrolled im2col-style), D2 = Kg, T = G*PQ.
  A depthwise layer has Cg = Kg = 1 and fills RS of R*C PEs, as on real systolic arrays.
- output stationary (ShiDianNao-like): D1 = PQ, D2 = G*Kg, T = Cg*RS. Depthwise maps well; a fully
  connected layer (PQ = 1) fills one row.

Compute cycles = ceil(D1/R) * ceil(D2/C) * T plus a pipeline skew of R + C - 2 cycles per tile
(WS: one tile per group and fold; OS: one per fold): the ceil effects and the skew are the
utilisation loss (oracle/array.py, after SCALE-Sim).

Data movement, in words of ``bits``:

- register file: 3 accesses per MAC (stationary operand, partial-sum read and write) plus one
  write per word arriving from the buffer. It holds h = rf_words - 2 stationary values (two
  words are pipeline registers for the streaming operands), which saves buffer round trips of
  partial sums (WS: h reduction folds accumulate in place) or of weights (OS: one weight serves h
  outputs held in the PE).
- global buffer to array: inputs are multicast along the columns that share them,
  (MACs / Kg) * ceil(Kg / C) reads; WS reads each weight once and round-trips partial sums once
  per ceil(ceil(D1/R) / h) passes; OS writes each output once and reads each weight once per
  ceil(ceil(PQ/R) / h) passes. Every such word also crosses the array network.
- DRAM: compulsory W + I + O when they fit the buffer; otherwise the better of two tilings,
  weight tiles of half the buffer with the input re-read per tile (W + n*I + O) or input tiles
  with the weights re-read per tile (n*W + I + O). The minimum of two terms that never grow with
  the buffer never grows either (the monotonicity the property tests check). DRAM words are also
  written to or read from the buffer. ``residency`` (from the schedule, oracle/schedule.py) scales
  the activation terms I and O by the fraction that goes through DRAM.

Energies per access come from oracle/memory.py (banked SRAM: bank + H-tree; DRAM active standby
while transferring, power-down otherwise) and constants.py (arithmetic, array network, clock tree),
scaled per node by :class:`constants.TechConstants`.

Latency: compute is the slower of the array's cycles and the buffer's (one word per array row and
column per cycle: the buffer is banked to feed the array's edges); DRAM transfers overlap it in
double-buffered tiles, max + min / n (oracle/array.py), not perfectly as in Timeloop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..networks.layers import LayerOp, LayerTable
from .array import mac_cycles as count_mac_cycles
from .array import overlapped_latency, utilisation
from .constants import (TechConstants, add_energy_pj, clock_energy_pj, dram_energy_pj_per_bit, mac_energy_pj,
                        noc_energy_pj, pe_leakage_w, tech_constants)
from .memory import dram_background_pj, dram_power_w, sram_access_pj, sram_leakage_w

RF_PIPELINE_WORDS = 2  # register-file words kept for the two streaming operands
RF_ACCESSES_PER_MAC = 3
# Pooling and element-wise operators stay on the PE adders, as block networks have always been
# costed (the embedded data depends on it); issue 13 may move them to the vector unit too.
VECTOR_KINDS = (LayerOp.NORM, LayerOp.SOFTMAX, LayerOp.UPSAMPLE)
MEMORY_KINDS = (LayerOp.MOVE, LayerOp.EMBEDDING)


@dataclass(frozen=True)
class Residency:
    """Fraction of each operator's input / output activation words that go through DRAM, per
    (configuration, operator): (N, L) float arrays in [0, 1] (or anything broadcasting to that).
    Supplied by the schedule (oracle/schedule.py): 1 = the activation is written to / read from
    DRAM as a single-operator schedule does; 0 = it stays on chip (fused with its neighbour).
    Weights always come from DRAM once per tiling pass, whatever the residency."""

    in_dram: np.ndarray
    out_dram: np.ndarray

    def take(self, rows: np.ndarray) -> Residency:
        """The rows of a chunk of configurations (arrays with one row broadcast unchanged)."""
        pick = lambda a: a[rows] if np.ndim(a) == 2 and a.shape[0] > 1 else a  # noqa: E731
        return Residency(pick(self.in_dram), pick(self.out_dram))


@dataclass(frozen=True)
class Geometry:
    """Per-layer loop bounds and tensor sizes (float64 arrays of shape (L,))."""

    macs: np.ndarray
    other: np.ndarray
    w: np.ndarray  # weight words
    i: np.ndarray  # input words (all inputs of an element-wise layer)
    o: np.ndarray  # output words
    kg: np.ndarray
    ws: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (D1, D2, T, tiles per fold) weight stationary
    os: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # (D1, D2, T, tiles per fold) output stationary
    array: np.ndarray  # 1 where the operator passes through the PE array
    vector: np.ndarray  # 1 where it runs on the vector unit; neither: memory traffic only
    static: np.ndarray  # 1 where ``w`` is a weight fixed across inferences (conv, linear)

    @classmethod
    def of(cls, t: LayerTable) -> Geometry:
        f = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        g, red, kg, pq = f(t.groups), f(t.red), f(t.kout), f(t.pos)
        # WS: one weight tile per group and fold streams the group's PQ positions; OS: one tile per fold.
        ws = (red, kg, g * pq, g)
        os = (np.maximum(pq, 1), g * kg, np.where(t.macs > 0, red, 0.0), np.ones_like(g))
        vector = np.isin(t.op, [int(k) for k in VECTOR_KINDS])
        array = ~vector & ~np.isin(t.op, [int(k) for k in MEMORY_KINDS])
        return cls(macs=f(t.macs), other=f(t.other_ops), w=f(t.w_words), i=f(t.i_words), o=f(t.o_words),
                   kg=kg, ws=ws, os=os, array=f(array), vector=f(vector),
                   static=f(np.isin(t.op, [int(LayerOp.CONV), int(LayerOp.LINEAR)])))


@dataclass(frozen=True)
class HwArrays:
    """Hardware columns as (N, 1) float arrays plus the derived per-configuration constants."""

    pe_rows: np.ndarray
    pe_cols: np.ndarray
    rf_bytes: np.ndarray
    glb_kib: np.ndarray
    dram_gbps: np.ndarray
    freq_mhz: np.ndarray
    bits: np.ndarray
    ws: np.ndarray  # bool (N,): weight stationary, else output stationary

    def take(self, rows: np.ndarray) -> HwArrays:
        return HwArrays(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})

    def __len__(self) -> int:
        return int(self.ws.shape[0])


def _col(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


def hw_arrays(hw: Any) -> HwArrays:
    """Mapping/DataFrame of hardware columns -> :class:`HwArrays` (no validation; see model.py)."""
    df = np.asarray(hw["dataflow"]).reshape(-1)
    return HwArrays(_col(hw["pe_rows"]), _col(hw["pe_cols"]), _col(hw["rf_bytes"]), _col(hw["glb_kib"]),
                    _col(hw["dram_gbps"]), _col(hw["freq_mhz"]), _col(hw["bits"]), df == "ws")


@dataclass(frozen=True)
class Energies:
    """Per-configuration energy constants (pJ per access or op, W of static power), (N, 1) arrays."""

    mac: np.ndarray
    add: np.ndarray
    rf: np.ndarray
    noc: np.ndarray
    clk: np.ndarray  # clock tree of the whole PE array, per cycle
    glb: np.ndarray
    dram_word: np.ndarray
    p_leak_w: np.ndarray
    p_dram_active_w: np.ndarray  # DRAM active standby, charged while transferring
    p_dram_down_w: np.ndarray  # DRAM power-down, charged otherwise
    v: np.ndarray

    @property
    def p_dram_bg_w(self) -> np.ndarray:
        """DRAM background power of a link busy all the time (the ZigZag backend's charge)."""
        return self.p_dram_active_w

    def take(self, rows: np.ndarray) -> Energies:
        return Energies(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})


def energies(hw: HwArrays, v: np.ndarray, tech_nm: float, dram: str,
             tech: TechConstants | None = None) -> Energies:
    """Energy constants of every configuration at its DVFS voltage ``v`` on node ``tech_nm``;
    ``tech`` overrides the node's default multipliers (:func:`constants.tech_constants`)."""
    t = tech_constants(tech_nm) if tech is None else tech
    n_pes = hw.pe_rows * hw.pe_cols
    sram_bits = hw.glb_kib * 8192 + n_pes * hw.rf_bytes * 8
    active, down = dram_power_w(dram, hw.dram_gbps, t)
    pj_bit = dram_energy_pj_per_bit(dram) if t.dram_pj_per_bit is None else t.dram_pj_per_bit
    return Energies(
        mac=mac_energy_pj(hw.bits, v) * t.logic, add=add_energy_pj(hw.bits, v) * t.logic,
        rf=sram_access_pj(hw.rf_bytes, hw.bits, v, t),
        noc=noc_energy_pj(hw.bits, n_pes, v) * t.wire,
        clk=clock_energy_pj(n_pes, hw.bits, hw.rf_bytes, v) * t.logic,
        glb=sram_access_pj(hw.glb_kib * 1024, hw.bits, v, t),
        dram_word=pj_bit * hw.bits,
        p_leak_w=pe_leakage_w(n_pes, hw.bits, v) * t.leakage + sram_leakage_w(sram_bits, v, t),
        p_dram_active_w=active, p_dram_down_w=down, v=v,
    )


def _array_words(g: Geometry, hw: HwArrays, fold1: np.ndarray, ws: bool) -> np.ndarray:
    """Words between the buffer and the array (see the module docstring)."""
    h = np.maximum(hw.rf_bytes * 8 / hw.bits - RF_PIPELINE_WORDS, 1)
    inputs = g.macs / g.kg * np.ceil(g.kg / hw.pe_cols) + (g.macs == 0) * g.i
    passes = np.ceil(fold1 / h)
    if ws:  # weights once; partial sums written once per pass, read back for all but the first
        words = inputs + g.w + g.o * (2 * passes - 1)
    else:  # outputs once; weights once per pass
        words = inputs + g.w * passes + g.o
    return words * g.array  # data movement goes buffer to buffer, not through the PEs


def _dram_words(g: Geometry, buf_words: np.ndarray, residency: Residency | None,
                w_dram: np.ndarray | None = None) -> np.ndarray:
    """DRAM words: the better of two tilings (module docstring); activations scaled by residency,
    weights by ``w_dram`` (None: all from DRAM; 0 where they stay on chip across inferences)."""
    tiles_w = np.maximum(np.ceil(g.w / buf_words), 1)  # at least one pass, also with no weights
    tiles_i = np.maximum(np.ceil(g.i / buf_words), 1)
    i_dram, o_dram = (g.i, g.o) if residency is None else (g.i * residency.in_dram, g.o * residency.out_dram)
    w = g.w if w_dram is None else g.w * w_dram
    return np.minimum(w + tiles_w * i_dram, tiles_i * w + i_dram) + o_dram


def layer_costs(g: Geometry, hw: HwArrays, e: Energies, ws: bool, detail: bool,
                residency: Residency | None = None, w_dram: np.ndarray | None = None,
                perfect_overlap: bool = False) -> dict[str, np.ndarray]:
    """Costs of every layer of ``g`` on every configuration of ``hw`` (all of one dataflow).

    ``residency`` (rows aligned with ``hw``) scales the input and output activation terms of the
    DRAM traffic; None = every activation goes through DRAM. ``w_dram`` (N, L) scales the weights'
    DRAM words (None: all); ``perfect_overlap`` takes max(compute, DRAM) per operator instead of
    the tile pipeline (both calibration mappings, OracleSettings).
    Returns (N, L) arrays: ``latency_s``, ``e_core_pj``, ``e_bw_pj``; with ``detail`` also the
    energy by level (pJ), cycles, traffic (words) and utilisation.
    """
    R, C = hw.pe_rows, hw.pe_cols
    d1, d2, t, tiles = g.ws if ws else g.os
    fold1 = np.ceil(d1 / R)
    rf_words = hw.rf_bytes * 8 / hw.bits
    mac_cycles = count_mac_cycles(d1, d2, t, tiles, R, C, rf_words)
    # Array operators use all R*C PE adders; the vector unit has one lane per array column.
    cycles = mac_cycles + np.ceil(g.other * g.array / (R * C)) + np.ceil(g.other * g.vector / C)

    array_words = _array_words(g, hw, fold1, ws)
    buf_words = hw.glb_kib * (1024 * 8 / 2) / hw.bits  # half the buffer holds the resident tile
    dram_words = _dram_words(g, buf_words, residency, w_dram)
    vector_words = (g.i + g.o) * g.vector  # the vector unit reads and writes the buffer directly
    glb_words = array_words + vector_words + dram_words

    f_hz = hw.freq_mhz * 1e6
    compute_s = cycles / f_hz
    glb_s = glb_words / (R + C) / f_hz
    dram_s = dram_words * hw.bits / (8e9 * hw.dram_gbps)
    # tiles of half the buffer, counted fractionally so latency never falls when the traffic grows
    n_tiles = np.maximum(dram_words / buf_words, 1)
    if perfect_overlap:
        latency_s = np.maximum(np.maximum(compute_s, glb_s), dram_s)
    else:
        latency_s = overlapped_latency(np.maximum(compute_s, glb_s), dram_s, n_tiles)

    e_mac = g.macs * e.mac + g.other * e.add
    e_rf = (RF_ACCESSES_PER_MAC * g.macs + array_words) * e.rf
    e_noc = array_words * e.noc
    e_glb = glb_words * e.glb
    e_leak = e.p_leak_w * latency_s * 1e12
    # The array's clock runs for the operator's whole latency (stalls included), gated off only for
    # operators that do not use the array (vector unit, memory only).
    e_clk = e.clk * latency_s * f_hz * g.array
    e_dram = dram_words * e.dram_word
    e_bg = dram_background_pj(e.p_dram_active_w, e.p_dram_down_w, dram_s, latency_s)
    out = {"latency_s": latency_s, "e_core_pj": e_mac + e_rf + e_noc + e_clk + e_glb + e_leak, "e_bw_pj": e_dram + e_bg}
    if detail:
        out.update(cycles=cycles, utilisation=utilisation(g.macs, mac_cycles, R, C),
                   e_mac_pj=e_mac, e_rf_pj=e_rf, e_noc_pj=e_noc, e_clk_pj=e_clk, e_glb_pj=e_glb, e_leak_pj=e_leak,
                   e_dram_pj=e_dram, e_dram_bg_pj=e_bg, dram_words=dram_words, glb_words=glb_words,
                   array_words=array_words, compute_s=compute_s, glb_s=glb_s, dram_s=dram_s)
    return out
