"""ZigZag as an optional backend of the generator: per-layer ZigZag costs summed per network.

``ZigZagOracle`` has the analytical :class:`~hwpower.oracle.Oracle`'s ``evaluate`` signature and
output columns, so the generator can use it (``--backend zigzag``). Energies come from the same
functions (:mod:`.constants` through :func:`.cost.energies`) at the same DVFS voltage; only the
mapping search and the access counting are ZigZag's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..networks import AnyNetwork
from ..networks.layers import Layer
from ..networks.ops import Op
from .area import hardware_area_mm2
from .cost import energies, hw_arrays
from .memory import DRAM_POWERDOWN_FRACTION, dram_background_pj
from .model import Oracle, check_hardware
from .settings import OracleSettings
from .space import HW_PARAMS
from .zigzag_run import DEFAULT_LPF_LIMIT, ZigZagLayerResult, run_layer
from .zigzag_translate import MAC_KINDS, ZigZagHardware, loop_nest

logger = logging.getLogger(__name__)

MAC_OPS = MAC_KINDS  # the kinds ZigZag costs: convolution, linear, matmul


@dataclass(frozen=True)
class LayerCost:
    """One layer on one configuration, in the oracle's terms (pJ, seconds)."""

    e_core_pj: float  # array, register files, buffer, network, leakage
    e_bw_pj: float  # DRAM transfers and DRAM background
    latency_s: float
    zigzag: ZigZagLayerResult  # ZigZag's own figures (pJ by level, cycles, the mapping chosen)

    @property
    def energy_pj(self) -> float:
        return self.e_core_pj + self.e_bw_pj


def _one_row(hw: Mapping[str, Any]) -> dict[str, np.ndarray]:
    missing = [k for k in HW_PARAMS if k not in hw]
    if missing:
        raise InputError(f"missing hardware parameter(s) {missing}", where="hardware")
    row = {k: np.asarray([hw[k]]) for k in HW_PARAMS}
    check_hardware(row)
    return row


def zigzag_hardware(hw: Mapping[str, Any],
                    settings: OracleSettings = OracleSettings()) -> tuple[ZigZagHardware, float, float]:
    """Translate one configuration: (ZigZag accelerator, leakage + array clock W, DRAM active-standby W).

    Every energy is the analytical oracle's own (``cost.energies``) at the DVFS voltage.
    """
    arrays = hw_arrays(_one_row(hw))
    try:
        v = settings.voltage(arrays.freq_mhz)
    except ValueError as exc:
        raise InputError(str(exc), where="freq_mhz") from None
    e = energies(arrays, v, settings.tech_nm, settings.dram)
    bits = int(hw["bits"])
    # ZigZag wants whole bits per cycle; rounding moves DRAM time by < 6 % at the space's corners
    # (8.9 -> 9 bits/cycle at 1 GB/s and 900 MHz) and by far less elsewhere.
    dram_bits = max(1, round(float(hw["dram_gbps"]) * 8000.0 / float(hw["freq_mhz"])))
    zz = ZigZagHardware(
        pe_rows=int(hw["pe_rows"]), pe_cols=int(hw["pe_cols"]), rf_bytes=int(hw["rf_bytes"]),
        glb_kib=float(hw["glb_kib"]), dram_bits_per_cycle=dram_bits, bits=bits, dataflow=str(hw["dataflow"]),
        mac_pj=float(e.mac[0, 0]), rf_pj=float(e.rf[0, 0]), glb_pj=float(e.glb[0, 0] + e.noc[0, 0]),
        dram_pj_per_bit=float(e.dram_word[0, 0]) / bits,
    )
    # The array's clock tree (cost.py charges it per cycle of latency) joins the static power here.
    p_clock_w = float(e.clk[0, 0]) * float(hw["freq_mhz"]) * 1e6 * 1e-12
    return zz, float(e.p_leak_w[0, 0]) + p_clock_w, float(e.p_dram_bg_w[0, 0])


class ZigZagOracle:
    """Network outputs from per-layer ZigZag evaluations (``Oracle.evaluate``'s columns).

    Convolution, linear and matmul layers are costed by ZigZag; the other operator kinds (pooling,
    element-wise, normalization, softmax, data movement...), which ZigZag's MAC-array model does not
    cover, keep the analytical oracle's cost. Block and graph networks alike. Leakage and
    DRAM background power are charged over ZigZag's latency (the DRAM in active standby while
    its traffic moves, power-down otherwise, as in memory.py). Identical (layer shape, configuration)
    evaluations are cached in ``cache_`` for the life of the object.
    """

    def __init__(self, settings: OracleSettings = OracleSettings(), lpf_limit: int = DEFAULT_LPF_LIMIT):
        self.settings = settings
        self.lpf_limit = lpf_limit
        self.cache_: dict[tuple, ZigZagLayerResult] = {}

    def layer_cost(self, layer: Layer | Op, hw: Mapping[str, Any]) -> LayerCost:
        """ZigZag's cost of one convolution, linear or matmul layer on one configuration."""
        return self._cost(layer, *zigzag_hardware(hw, self.settings), float(hw["freq_mhz"]))

    def _cost(self, layer: Layer | Op, zz_hw: ZigZagHardware, p_leak_w: float, p_bg_w: float,
              freq_mhz: float) -> LayerCost:
        key = (loop_nest(layer).key, zz_hw, self.lpf_limit)  # raises for kinds ZigZag does not cost
        if key not in self.cache_:
            self.cache_[key] = run_layer(layer, zz_hw, self.lpf_limit)
        res = self.cache_[key]
        t = res.latency_cycles / (freq_mhz * 1e6)
        # DRAM power states as the analytical oracle charges them (memory.py): active standby
        # while ZigZag's DRAM traffic moves, power-down for the rest of the latency.
        busy = res.dram_pj / zz_hw.dram_pj_per_bit / (zz_hw.dram_bits_per_cycle * freq_mhz * 1e6)
        e_bg = dram_background_pj(p_bg_w, p_bg_w * DRAM_POWERDOWN_FRACTION, min(busy, t), t)
        return LayerCost(e_core_pj=res.energy_pj - res.dram_pj + p_leak_w * t * 1e12,
                         e_bw_pj=res.dram_pj + e_bg, latency_s=t, zigzag=res)

    def evaluate(self, net: AnyNetwork, hw: pd.DataFrame) -> pd.DataFrame:
        """Network outputs per hardware row (rows aligned with ``hw``, same index)."""
        check_hardware(hw)
        layers = net.layers
        analytical = Oracle(self.settings).evaluate_layers(net.layer_table(), hw)
        tot = np.zeros((len(hw), 3))
        for r, (_, row) in enumerate(hw.iterrows()):
            translated = zigzag_hardware(row, self.settings)
            for j, layer in enumerate(layers):
                if layer.op in MAC_OPS:
                    c = self._cost(layer, *translated, float(row["freq_mhz"]))
                    tot[r] += (c.e_core_pj, c.e_bw_pj, c.latency_s)
                else:
                    tot[r] += (analytical["e_core_pj"][r, j], analytical["e_bw_pj"][r, j],
                               analytical["latency_s"][r, j])
        e_core, e_bw, t = tot[:, 0] * 1e-12, tot[:, 1] * 1e-12, tot[:, 2]
        return pd.DataFrame({"P_core": e_core / t, "P_bw": e_bw / t, "P": (e_core + e_bw) / t,
                             "latency_ms": t * 1e3, "energy_mj": (e_core + e_bw) * 1e3,
                             "area_mm2": hardware_area_mm2(hw, self.settings.tech_constants)}, index=hw.index)
