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
from ..networks import Network
from ..networks.layers import Layer, LayerOp, LayerTable
from .cost import energies, hw_arrays
from .model import Oracle, OracleSettings, check_hardware
from .space import HW_PARAMS
from .zigzag_run import DEFAULT_LPF_LIMIT, ZigZagLayerResult, run_layer
from .zigzag_translate import ZigZagHardware

logger = logging.getLogger(__name__)

MAC_OPS = (LayerOp.CONV, LayerOp.LINEAR)


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
    """Translate one configuration: (ZigZag accelerator, leakage W, DRAM background W).

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
    return zz, float(e.p_leak_w[0, 0]), float(e.p_dram_bg_w[0, 0])


def _layer_key(layer: Layer) -> tuple:
    # Two layers of the same shape cost the same; the name does not matter.
    return (int(layer.op), layer.in_channels, layer.out_channels, layer.in_size, layer.out_size,
            layer.kernel, layer.stride, layer.groups)


class ZigZagOracle:
    """Network outputs from per-layer ZigZag evaluations (``Oracle.evaluate``'s columns).

    Convolution and fully connected layers are costed by ZigZag; pooling and element-wise layers,
    which ZigZag's MAC-array model does not cover, keep the analytical oracle's cost. Leakage and
    DRAM background power are charged over ZigZag's latency. Identical (layer shape, configuration)
    evaluations are cached in ``cache_`` for the life of the object.
    """

    def __init__(self, settings: OracleSettings = OracleSettings(), lpf_limit: int = DEFAULT_LPF_LIMIT):
        self.settings = settings
        self.lpf_limit = lpf_limit
        self.cache_: dict[tuple, ZigZagLayerResult] = {}

    def layer_cost(self, layer: Layer, hw: Mapping[str, Any]) -> LayerCost:
        """ZigZag's cost of one convolution or fully connected layer on one configuration."""
        return self._cost(layer, *zigzag_hardware(hw, self.settings), float(hw["freq_mhz"]))

    def _cost(self, layer: Layer, zz_hw: ZigZagHardware, p_leak_w: float, p_bg_w: float, freq_mhz: float) -> LayerCost:
        if layer.op not in MAC_OPS:
            raise InputError(f"ZigZag costs convolution and linear layers only, not {layer.op.name}",
                             where=layer.name)
        key = (_layer_key(layer), zz_hw, self.lpf_limit)
        if key not in self.cache_:
            self.cache_[key] = run_layer(layer, zz_hw, self.lpf_limit)
        res = self.cache_[key]
        t = res.latency_cycles / (freq_mhz * 1e6)
        return LayerCost(e_core_pj=res.energy_pj - res.dram_pj + p_leak_w * t * 1e12,
                         e_bw_pj=res.dram_pj + p_bg_w * t * 1e12, latency_s=t, zigzag=res)

    def evaluate(self, net: Network, hw: pd.DataFrame) -> pd.DataFrame:
        """Network outputs per hardware row (rows aligned with ``hw``, same index)."""
        check_hardware(hw)
        layers = net.layers
        analytical = Oracle(self.settings).evaluate_layers(LayerTable.from_layers(layers), hw)
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
                             "latency_ms": t * 1e3, "energy_mj": (e_core + e_bw) * 1e3}, index=hw.index)
