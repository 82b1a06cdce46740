"""Memory physics: banked SRAM access energy, SRAM leakage, DRAM power states.

Buffers are built of banks (the organisation CACTI optimises: an array is split into sub-arrays
joined by an H-tree, Muralimanohar et al., "CACTI 6.0", HP Labs HPL-2009-85). An access reads one
bank and crosses the H-tree from the bank to the port, so its energy is

    E(capacity) = E_bank(min(capacity, BANK_BYTES)) + E_wire(H-tree length)

The bank term is Horowitz's SRAM figure (constants.sram_read_energy_pj) at the bank size; the wire
term grows with the side of the buffer, i.e. with sqrt(capacity), the growth CACTI's H-tree model
gives and the Accelergy CACTI plug-in's sub-linear depth scaling (depth^0.78 per bank-sized array)
bounds from above. A 4 MiB access costs 2.0x a 64 KiB one (45 nm, any width), not the 8x of an
unbanked capacity^0.475 law.

DRAM is charged its active-standby power only while it transfers and power-down power otherwise
(Micron LPDDR4 datasheet IDD figures, the states DRAMPower models: Chandrasekar et al., DRAMPower,
github.com/tukl-msd/DRAMPower), so bandwidth that is provisioned but idle costs little.
"""

from __future__ import annotations

import numpy as np

from .constants import SRAM_CELL_UM2, TechConstants, dram_background_w, sram_read_energy_pj
from .constants import sram_leakage_w as sram_cell_leakage_w

# Bank size: 32 KiB, an assumption inside the 16-64 KiB range of accelerator scratchpad banks
# (buffers of every size in the space are built of such banks; smaller buffers are one bank).
BANK_BYTES = 32 * 1024
# Wire capacitance ~0.2 fF/um for on-chip signal wires, roughly constant across nodes (Ho, Mai and
# Horowitz, "The future of wires", Proc. IEEE 89(4), 2001); a random data bit toggles half the time.
WIRE_FF_PER_UM = 0.2
WIRE_ACTIVITY = 0.5
# SRAM macro area efficiency (bit cells / macro area): 0.6, an assumption in the 50-70 % range CACTI
# reports for large arrays. Used for the H-tree length here and the SRAM area (area.py).
SRAM_ARRAY_EFFICIENCY = 0.6
# DRAM power-down (IDD2P-class current) is about a tenth of active standby (IDD3N-class) in Micron
# LPDDR4 datasheets; with refresh folded in we charge 10 % of the active-standby power when idle.
# Assumption, order of magnitude (the active-standby figure is constants.DRAM_BACKGROUND_MW_PER_GBPS).
DRAM_POWERDOWN_FRACTION = 0.1


def sram_macro_mm2(capacity_bytes, cell_um2: float = SRAM_CELL_UM2[45]):
    """Area of an SRAM of ``capacity_bytes`` (mm^2): bit cells over the array efficiency."""
    return np.asarray(capacity_bytes, dtype=float) * 8 * cell_um2 / SRAM_ARRAY_EFFICIENCY * 1e-6


def htree_mm(capacity_bytes):
    """H-tree length from the port to a bank (mm) at 45 nm: the buffer's side minus a bank's side
    (the bank's own wiring is in its access energy). Zero for buffers of one bank or less."""
    side = np.sqrt(sram_macro_mm2(capacity_bytes))
    return np.clip(side - np.sqrt(sram_macro_mm2(BANK_BYTES)), 0.0, None)


def wire_energy_pj(width_bits, length_mm, v):
    """Energy of moving ``width_bits`` over ``length_mm`` of wire: activity x C x V^2 per bit
    (0.1 pJ per bit and mm at 1 V with 0.2 fF/um)."""
    per_bit_mm = WIRE_ACTIVITY * WIRE_FF_PER_UM * 1e3 * 1e-3 * np.asarray(v, dtype=float) ** 2  # fF/mm -> pJ/V^2
    return per_bit_mm * np.asarray(width_bits, dtype=float) * length_mm


def sram_access_pj(capacity_bytes, width_bits, v, tech: TechConstants):
    """One ``width_bits`` access to a banked SRAM of ``capacity_bytes``: bank + H-tree (above)."""
    bank = sram_read_energy_pj(np.minimum(capacity_bytes, BANK_BYTES), width_bits, v) * tech.sram
    return bank + wire_energy_pj(width_bits, htree_mm(capacity_bytes), v) * tech.wire


def sram_leakage_w(bits_total, v, tech: TechConstants):
    """SRAM leakage (W): 20 pW per bit at 0.9 V (= 164 nW per KiB; low-standby-power cells,
    constants.SRAM_LEAK_PW_PER_BIT, an assumption), times the node's leakage multiplier."""
    return sram_cell_leakage_w(bits_total, v) * tech.leakage


def dram_power_w(dram: str, dram_gbps, tech: TechConstants) -> tuple[np.ndarray, np.ndarray]:
    """(active-standby W, power-down W) of a DRAM interface provisioned for ``dram_gbps``."""
    active = dram_background_w(dram, dram_gbps) * tech.dram_background
    return active, active * DRAM_POWERDOWN_FRACTION


def dram_background_pj(p_active_w, p_down_w, busy_s, latency_s):
    """Background energy of one operator (pJ): active standby while transferring (``busy_s``),
    power-down for the rest of its latency."""
    return (p_down_w * latency_s + (p_active_w - p_down_w) * busy_s) * 1e12
