"""Every energy, leakage and voltage constant of the oracle, each with its published source.

One module, so that the analytical oracle and the ZigZag translation cost hardware identically.
Energies are in picojoules at the reference node (45 nm) and reference voltage (0.9 V) of
Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
DOI 10.1109/ISSCC.2014.6757323 ("Horowitz 2014" below). Other nodes and voltages follow
:func:`energy_scale`; every function takes the supply voltage ``v`` and a ``tech_nm``.

All functions accept NumPy arrays (they broadcast), so the vectorised oracle calls them directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

REF_TECH_NM = 45.0  # Horowitz 2014 figures are for 45 nm
REF_V = 0.9  # ... at 0.9 V

# --- Arithmetic (Horowitz 2014, Table "energy per operation", 45 nm, 0.9 V) ----------------------
INT8_MULT_PJ = 0.2
INT32_MULT_PJ = 3.1
INT8_ADD_PJ = 0.03
INT16_ADD_PJ = 0.05
INT32_ADD_PJ = 0.1
# Multiplier energy grows with width**k; k from the 8-bit and 32-bit figures (0.2 -> 3.1 pJ), since
# Horowitz gives no 16-bit integer multiply: k = log(3.1/0.2)/log(4) = 1.98 (array multiplier ~ n^2).
MULT_EXPONENT = float(np.log(INT32_MULT_PJ / INT8_MULT_PJ) / np.log(32 / 8))

# --- SRAM (Horowitz 2014: 64-bit cache read 10 pJ at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB) ----------
SRAM_REF_BYTES = 8 * 1024
SRAM_REF_PJ_PER_64B = 10.0
# CACTI-like growth E ~ capacity**b, b fitted to Horowitz's 8 KB and 1 MB points:
# b = log(100/10)/log(128) = 0.475 (reproduces 19.3 pJ at 32 KB against the published 20 pJ).
SRAM_CAPACITY_EXPONENT = float(np.log(100.0 / 10.0) / np.log(1024 / 8))

# --- On-array network (Chen et al., "Eyeriss", ISCA 2016, Table IV: PE-to-PE transfer = 2x a MAC) --
NOC_MAC_RATIO = 2.0
EYERISS_PES = 168  # 12 x 14, the array Table IV was measured on; wire length scales with sqrt(PEs)

# --- DRAM interface energy per bit (Accelergy CACTI plug-in, cacti_wrapper.py; DDR3 likewise) -------
DRAM_PJ_PER_BIT = {"lpddr4": 8.0, "gddr5": 14.0, "hbm2": 3.9, "ddr3": 70.0}
# DRAM background (standby/refresh) power per GB/s of provisioned bandwidth. Assumption, derived
# from Micron LPDDR4 datasheet active-standby currents (IDD3N of a few tens of mA at VDD2 = 1.1 V per
# x32 channel of 12.8 GB/s, i.e. ~40 mW per channel): 3 mW per GB/s. Unverified; order of magnitude.
DRAM_BACKGROUND_MW_PER_GBPS = {"lpddr4": 3.0, "gddr5": 6.0, "hbm2": 2.0, "ddr3": 8.0}

# --- Leakage (assumptions: the reference figures give no single authoritative value) ---------------
# SRAM leakage per bit at 45 nm, 0.9 V: 20 pW/bit, a low-standby-power cell as modelled by CACTI 6.5
# (Muralimanohar et al., HP Labs 2009); high-performance cells leak 100-1000x more. Assumption.
SRAM_LEAK_PW_PER_BIT = 20.0
# PE logic leakage: 5% of the dynamic power of a 16-bit MAC running at 1 GHz (0.05 * 0.9 pJ * 1e9/s
# = 45 uW). Assumption in line with logic leakage fractions of 45 nm LP processes.
PE_LEAK_UW_16B = 45.0

# --- Voltage / frequency (alpha-power law, Sakurai and Newton, IEEE JSSC 25(2), 1990) --------------
ALPHA = 1.3  # velocity-saturated short-channel devices: 1.2 to 1.5 (Sakurai and Newton)
V_TH = 0.35  # threshold voltage at 45 nm (typical of 45 nm LP/GP processes); assumption
V_MIN = 0.5  # DVFS floor: SRAM retention / near-threshold limit below which voltage does not drop
V_MAX = 1.3  # reliability ceiling; frequencies that would need more are rejected


@dataclass(frozen=True)
class Node:
    """A technology node's nominal supply and the clock it reaches at that supply."""

    tech_nm: float
    v_nom: float
    f_nom_mhz: float  # frequency reached at v_nom on the DVFS curve


# Nominal supplies: 0.9 V at 45 nm (Horowitz 2014), 1.0 V at 65 nm (Eyeriss, Chen et al. JSSC 2017).
# f_nom at 45 nm: 800 MHz at 0.9 V, an assumption; 1 GHz then needs ~1.1 V (overdrive).
# 28 nm: 0.9 V at 1 GHz (assumption: NVDLA's primer sizes its 28 nm configurations for a 1 GHz
# clock; TPU v1 runs 700 MHz at 28 nm, Jouppi et al. ISCA 2017). 16 nm: 0.8 V at 1 GHz (assumption
# interpolated from Simba's 16 nm chiplet range, 0.42 V / 161 MHz to 1.2 V / 2 GHz, Zimmer et al.
# VLSI 2019 / JSSC 2020).
NODES = {45: Node(45.0, 0.9, 800.0), 65: Node(65.0, 1.0, 250.0), 28: Node(28.0, 0.9, 1000.0),
         16: Node(16.0, 0.8, 1000.0)}
# Below 22 nm the Accelergy CACTI plug-in scales energy and leakage by (node / 22)^0.5 instead of
# linearly (FinFET capacitance shrinks more slowly; accelergy-cacti-plug-in scaling rules).
SUBLINEAR_BELOW_NM = 22.0


def node_energy_factor(tech_nm: float) -> float:
    """Switched capacitance of a node relative to 45 nm: linear in feature size (Dennard et al.,
    IEEE JSSC 9(5), 1974) down to 22 nm, then (node / 22)^0.5 (Accelergy's rule): 65 nm 1.44,
    28 nm 0.62, 16 nm 0.42."""
    nm = float(tech_nm)
    if nm >= SUBLINEAR_BELOW_NM:
        return nm / REF_TECH_NM
    return SUBLINEAR_BELOW_NM / REF_TECH_NM * (nm / SUBLINEAR_BELOW_NM) ** 0.5


@dataclass(frozen=True)
class TechConstants:
    """Per-node multipliers on the 45 nm / 0.9 V figures of this module, the knobs a constants fit
    (oracle/calibration/fit.py) may override: ``OracleSettings(tech_nm=65, tech=TechConstants(...))``.

    The defaults (:func:`tech_constants`) are the physics: dynamic energies scale with
    :func:`node_energy_factor`, areas with the square of the feature size, leakage per bit / per PE
    is held at its 45 nm figure (stated assumption, see :func:`leakage_scale`). A fit changes them.
    ``dram_pj_per_bit`` None keeps the DRAM type's figure.
    """

    logic: float = 1.0  # MAC, add and vector-unit energies (x the 45 nm figure at equal voltage)
    sram: float = 1.0  # SRAM bank and register-file access energies
    wire: float = 1.0  # array network and buffer H-tree energies
    leakage: float = 1.0  # SRAM and PE leakage power
    logic_area: float = 1.0  # PE, network and control area (x the 45 nm figure)
    sram_area: float = 1.0  # SRAM and register-file area (x the 45 nm figure)
    dram_pj_per_bit: float | None = None
    dram_background: float = 1.0  # DRAM active-standby and power-down power

    def __post_init__(self) -> None:
        values = [getattr(self, k) for k in self.__dataclass_fields__ if k != "dram_pj_per_bit"]
        if self.dram_pj_per_bit is not None:
            values.append(self.dram_pj_per_bit)
        if not all(np.isfinite(x) and x > 0 for x in values):
            raise ValueError(f"TechConstants need positive finite values, got {self}")


# Published 6T SRAM bit-cell areas (um^2), for the area model (oracle/area.py) and the node's
# SRAM area scale: Intel 65 nm 0.57 (Tyagi et al., IEDM 2005), Intel 45 nm 0.346 (Mistry et al.,
# IEDM 2007), TSMC 28 nm 0.127 (high density; Wu et al., IEDM 2010), TSMC 16 nm FinFET 0.07
# (Wu et al., IEDM 2013). Cells shrink more slowly than (node)^2 below 45 nm.
SRAM_CELL_UM2 = {65: 0.57, 45: 0.346, 28: 0.127, 16: 0.07}


def tech_constants(tech_nm: float) -> TechConstants:
    """The physics defaults for a node (any node: built-in cell areas where published, else the
    feature size squared)."""
    f = node_energy_factor(tech_nm)
    nm = float(tech_nm)
    cell = SRAM_CELL_UM2.get(int(nm), SRAM_CELL_UM2[45] * (nm / REF_TECH_NM) ** 2)
    return TechConstants(logic=f, sram=f, wire=f, leakage=1.0, logic_area=(nm / REF_TECH_NM) ** 2,
                         sram_area=cell / SRAM_CELL_UM2[45])


def energy_scale(v, tech_nm: float = REF_TECH_NM):
    """Dynamic energy relative to 45 nm / 0.9 V: E ~ C V^2 with C ~ :func:`node_energy_factor`
    (constant-field scaling, Dennard et al., IEEE JSSC 9(5), 1974). 65 nm at 1.0 V costs 1.78x the
    45 nm energy."""
    return node_energy_factor(tech_nm) * (np.asarray(v, dtype=float) / REF_V) ** 2


def mult_energy_pj(bits, v=REF_V, tech_nm: float = REF_TECH_NM):
    """Integer multiply: 0.2 pJ at 8 bit, 3.1 pJ at 32 bit (Horowitz 2014), ~ width**1.98 between."""
    return INT8_MULT_PJ * (np.asarray(bits, dtype=float) / 8.0) ** MULT_EXPONENT * energy_scale(v, tech_nm)


def add_energy_pj(bits, v=REF_V, tech_nm: float = REF_TECH_NM):
    """Integer add: 0.03 / 0.05 / 0.1 pJ at 8 / 16 / 32 bit (Horowitz 2014), interpolated linearly
    between those widths (held constant outside 8..32 bit)."""
    base = np.interp(np.asarray(bits, dtype=float), [8.0, 16.0, 32.0], [INT8_ADD_PJ, INT16_ADD_PJ, INT32_ADD_PJ])
    return base * energy_scale(v, tech_nm)


def mac_energy_pj(bits, v=REF_V, tech_nm: float = REF_TECH_NM):
    """A multiply-accumulate: a ``bits`` x ``bits`` multiply and an accumulate at twice the width
    (the accumulator is wider than the operands). 8 bit: 0.25 pJ; 16 bit: 0.90 pJ at 45 nm, 0.9 V."""
    return mult_energy_pj(bits, v, tech_nm) + add_energy_pj(2 * np.asarray(bits), v, tech_nm)


def sram_read_energy_pj(capacity_bytes, width_bits, v=REF_V, tech_nm: float = REF_TECH_NM):
    """One access of ``width_bits`` to an SRAM of ``capacity_bytes``: 10 pJ per 64 bit at 8 KB
    (Horowitz 2014), growing as capacity**0.475 (fitted to Horowitz's 8 KB / 1 MB points; CACTI-like).
    Writes cost the same (peer tools disagree on the sign of the difference; see docs/oracle.md)."""
    rel_capacity = np.asarray(capacity_bytes, dtype=float) / SRAM_REF_BYTES
    per_bit = SRAM_REF_PJ_PER_64B / 64.0 * rel_capacity ** SRAM_CAPACITY_EXPONENT
    return per_bit * np.asarray(width_bits, dtype=float) * energy_scale(v, tech_nm)


def noc_energy_pj(width_bits, n_pes, v=REF_V, tech_nm: float = REF_TECH_NM):
    """Moving one word between the global buffer and a PE over the array network: 2x a 16-bit MAC per
    16 bits on Eyeriss's 168-PE array (Chen et al., ISCA 2016, Table IV), scaled with wire length,
    i.e. with sqrt(PE count) relative to Eyeriss's array."""
    per_bit = NOC_MAC_RATIO * mac_energy_pj(16, REF_V, REF_TECH_NM) / 16.0
    wire = np.sqrt(np.asarray(n_pes, dtype=float) / EYERISS_PES)
    return per_bit * np.asarray(width_bits, dtype=float) * wire * energy_scale(v, tech_nm)


def dram_energy_pj_per_bit(dram: str) -> float:
    """DRAM interface energy per bit transferred (Accelergy CACTI plug-in): LPDDR4 8, GDDR5 14,
    HBM2 3.9, DDR3 70 pJ/bit. Off-chip, so independent of the accelerator's voltage and node."""
    try:
        return DRAM_PJ_PER_BIT[dram]
    except KeyError:
        raise ValueError(f"unknown DRAM type {dram!r} (known: {sorted(DRAM_PJ_PER_BIT)})") from None


def dram_background_w(dram: str, dram_gbps):
    """DRAM standby/refresh power in watts for a provisioned bandwidth (see the assumption above)."""
    if dram not in DRAM_BACKGROUND_MW_PER_GBPS:
        raise ValueError(f"unknown DRAM type {dram!r} (known: {sorted(DRAM_BACKGROUND_MW_PER_GBPS)})")
    return DRAM_BACKGROUND_MW_PER_GBPS[dram] * 1e-3 * np.asarray(dram_gbps, dtype=float)


def leakage_scale(v, tech_nm: float = REF_TECH_NM):
    """Static power ~ V x I_leak with I_leak held constant across voltage. Leakage per bit or per PE
    is held at the 45 nm figure on every node (older nodes leak less per micron of device width but
    use wider devices; we do not model the difference), so ``tech_nm`` is accepted and unused."""
    del tech_nm
    return np.asarray(v, dtype=float) / REF_V


def sram_leakage_w(bits_total, v=REF_V, tech_nm: float = REF_TECH_NM):
    """SRAM leakage in watts for ``bits_total`` stored bits (20 pW/bit at 45 nm, 0.9 V; assumption)."""
    return SRAM_LEAK_PW_PER_BIT * 1e-12 * np.asarray(bits_total, dtype=float) * leakage_scale(v, tech_nm)


def pe_leakage_w(n_pes, bits, v=REF_V, tech_nm: float = REF_TECH_NM):
    """PE logic leakage in watts: 45 uW per 16-bit PE at 45 nm, 0.9 V (assumption), scaled by the
    MAC's switched capacitance, i.e. by its energy relative to 16 bit."""
    rel = mac_energy_pj(bits) / mac_energy_pj(16)
    return PE_LEAK_UW_16B * 1e-6 * np.asarray(n_pes, dtype=float) * rel * leakage_scale(v, tech_nm)


def alpha_power_speed(v, v_th: float = V_TH, alpha: float = ALPHA):
    """Alpha-power law (Sakurai and Newton 1990): f_max ~ (V - V_th)^alpha / V (unnormalised)."""
    v = np.asarray(v, dtype=float)
    return np.clip(v - v_th, 0.0, None) ** alpha / v


@functools.lru_cache(maxsize=64)
def _dvfs_table(f_nom_mhz: float, v_nom: float, v_th: float, alpha: float, v_min: float, v_max: float):
    """(frequencies, voltages) along the curve, built once per curve: the oracle asks per chunk."""
    v_grid = np.linspace(v_min, v_max, 4001)
    f_grid = f_nom_mhz * alpha_power_speed(v_grid, v_th, alpha) / alpha_power_speed(v_nom, v_th, alpha)
    return f_grid, v_grid


def voltage_for_frequency(freq_mhz, node: Node, *, v_th: float = V_TH, alpha: float = ALPHA,
                          v_min: float = V_MIN, v_max: float = V_MAX):
    """Supply voltage the DVFS curve sets for ``freq_mhz``: the lowest V whose alpha-power-law speed
    reaches the frequency, where ``node.f_nom_mhz`` is reached at ``node.v_nom``; never below ``v_min``.

    The curve is monotone, so it is inverted by interpolation on a fine table (vectorised, exact to
    ~1e-4 V). Raises ``ValueError`` for frequencies that would need more than ``v_max``.
    """
    f_grid, v_grid = _dvfs_table(float(node.f_nom_mhz), float(node.v_nom), float(v_th), float(alpha),
                                 float(v_min), float(v_max))
    f = np.asarray(freq_mhz, dtype=float)
    if np.any(f > f_grid[-1]):
        raise ValueError(f"frequency {float(f.max()):g} MHz needs more than {v_max} V on this node "
                         f"(max {f_grid[-1]:.0f} MHz)")
    return np.interp(f, f_grid, v_grid)  # below the floor's frequency interp returns v_min


# --- Clock tree (assumption) ---------------------------------------------------------------------
# Each clocked load (a flip-flop's clock pin, or the clock-gating cell of one register-file word,
# whose flops are clocked only when written) costs C V^2 per cycle: 2 fF at 45 nm, a ~1 fF clock
# pin (NanGate FreePDK45 DFF_X1 class) plus as much again of clock wiring. A PE has 6 x bits pipeline
# flops (two operands, the product and the accumulator at twice the width). Assumption; Eyeriss
# reports its clock network as a large share of chip power (Chen et al., JSSC 2017).
CLOCK_FF_PER_LOAD = 2.0
PIPELINE_FLOPS_PER_BIT = 6


def clock_energy_pj(n_pes, bits, rf_bytes, v=REF_V, tech_nm: float = REF_TECH_NM):
    """Clock-tree energy of the whole PE array per cycle (pJ): loads x C x V^2 (assumption above)."""
    bits = np.asarray(bits, dtype=float)
    loads = PIPELINE_FLOPS_PER_BIT * bits + np.asarray(rf_bytes, dtype=float) * 8 / bits
    c_pf = CLOCK_FF_PER_LOAD * 1e-3 * node_energy_factor(tech_nm)
    return np.asarray(n_pes, dtype=float) * loads * c_pf * np.asarray(v, dtype=float) ** 2
