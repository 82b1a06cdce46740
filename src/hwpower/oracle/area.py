"""Silicon area of a configuration (mm^2): PEs (MAC + register file + array share of network and
control), the global buffer, and the DRAM interface (PHY).

Figures at 45 nm, scaled to other nodes by :class:`constants.TechConstants` (logic with the square
of the feature size, SRAM with the published bit-cell areas of ``constants.SRAM_CELL_UM2``):

- MAC: a ``bits`` x ``bits`` multiplier and a 2 x ``bits`` adder, Horowitz ISSCC 2014's area column
  (45 nm): 8-bit multiply 282 um^2, 32-bit 3495 um^2 (width^1.82 between), add 8 / 16 / 32 bit
  36 / 67 / 137 um^2. 8-bit MAC 349 um^2, 16-bit MAC 1131 um^2.
- register file: 4.5 um^2 per bit, a flip-flop-class cell (NanGate FreePDK45 Open Cell Library
  DFF_X1, 4.52 um^2); register files of a few hundred bytes are built of flops and latches, not
  SRAM macros. Assumption.
- array network, PE control and clock tree: PE_OVERHEAD x (MAC + register file), fitted so that
  Eyeriss's configuration (12 x 14 PEs of 16 bit with 0.5 KB register files and a 108 KB buffer,
  65 nm) has Eyeriss's published 12.25 mm^2 core (3.5 mm x 3.5 mm; Chen et al., IEEE JSSC 52(1),
  2017). Fitted, one point.
- global buffer: bit cells / array efficiency (memory.sram_macro_mm2): 0.58 um^2 per bit at 45 nm.
- DRAM PHY: 0.1 mm^2 per GB/s (an x32 LPDDR4-3200 channel of 12.8 GB/s ~ 1.3 mm^2), on every
  node (I/O and analog circuits barely shrink). Assumption, order of magnitude; Eyeriss's core
  area has no PHY, so the calibration compares ``core_mm2``.
"""

from __future__ import annotations

import numpy as np

from .constants import TechConstants, tech_constants
from .memory import sram_macro_mm2

MULT8_UM2, MULT32_UM2 = 282.0, 3495.0  # Horowitz 2014, 45 nm
MULT_AREA_EXPONENT = float(np.log(MULT32_UM2 / MULT8_UM2) / np.log(4.0))
ADD_UM2 = ([8.0, 16.0, 32.0], [36.0, 67.0, 137.0])  # Horowitz 2014, 45 nm
RF_BIT_UM2 = 4.52  # NanGate FreePDK45 DFF_X1; assumption that register files are flop-based
PHY_MM2_PER_GBPS = 0.1  # assumption (module docstring)
EYERISS_CORE_MM2 = 12.25  # Chen et al., JSSC 2017


def mac_um2(bits):
    """MAC area at 45 nm (um^2): bits x bits multiplier + 2 x bits adder (Horowitz 2014)."""
    b = np.asarray(bits, dtype=float)
    add = np.interp(2 * b, *ADD_UM2)  # accumulator of 16 or 32 bit (the space has 8 and 16 bit)
    return MULT8_UM2 * (b / 8.0) ** MULT_AREA_EXPONENT + add


def _pe_bare_um2(bits, rf_bytes):
    return mac_um2(bits) + np.asarray(rf_bytes, dtype=float) * 8 * RF_BIT_UM2


def _fit_pe_overhead() -> float:
    """PE_OVERHEAD from Eyeriss's core area (65 nm: scales from constants.tech_constants(65))."""
    t = tech_constants(65)
    pes = 168 * float(_pe_bare_um2(16, 512)) * 1e-6 * t.logic_area
    glb = float(sram_macro_mm2(108_000)) * t.sram_area
    return (EYERISS_CORE_MM2 - glb) / pes - 1.0


PE_OVERHEAD = _fit_pe_overhead()  # ~0.68: network, control and clock as a share of MAC + RF area


def core_mm2(pe_rows, pe_cols, rf_bytes, glb_kib, bits, tech: TechConstants):
    """PE array (with its network and control) plus global buffer, mm^2."""
    pe = _pe_bare_um2(bits, rf_bytes) * (1.0 + PE_OVERHEAD) * 1e-6 * tech.logic_area
    return pe_rows * pe_cols * pe + sram_macro_mm2(np.asarray(glb_kib, dtype=float) * 1024) * tech.sram_area


def area_mm2(pe_rows, pe_cols, rf_bytes, glb_kib, bits, dram_gbps, tech: TechConstants):
    """Chip area, mm^2: core (:func:`core_mm2`) plus the DRAM PHY."""
    phy = PHY_MM2_PER_GBPS * np.asarray(dram_gbps, dtype=float)
    return core_mm2(pe_rows, pe_cols, rf_bytes, glb_kib, bits, tech) + phy


def hardware_area_mm2(hw, tech: TechConstants) -> np.ndarray:
    """Area (mm^2) of every configuration of a mapping/DataFrame of hardware columns, shape (N,)."""
    from .cost import hw_arrays  # cost.py does not import this module: no cycle, kept local anyway

    h = hw_arrays(hw)
    return area_mm2(h.pe_rows, h.pe_cols, h.rf_bytes, h.glb_kib, h.bits, h.dram_gbps, tech).reshape(-1)
