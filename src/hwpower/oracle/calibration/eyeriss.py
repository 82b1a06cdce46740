"""Calibration against silicon: Eyeriss running AlexNet's five convolution layers.

Published (Chen et al., "Eyeriss: an energy-efficient reconfigurable accelerator for deep
convolutional neural networks", IEEE JSSC 52(1), 2017): 65 nm, 168 PEs (12 x 14), 16-bit,
108 KB global buffer, 0.5 KB register file per PE, 200 MHz core clock at 1 V; AlexNet's
convolution layers at 34.7 frames/s (batch 4) drawing 278 mW. The 278 mW is the chip's power, so
it is compared with the oracle's ``P_core`` (the DRAM side is reported separately).

Row stationary is approximated by weight stationary: each Eyeriss PE keeps a filter row resident in
its register file and accumulates partial sums over the array's columns, which is the
weight-resident, reduction-over-the-array structure of our ``ws`` dataflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...networks import LayerOp, LayerTable, Network
from ...networks.blocks import ConvBlock, PoolBlock
from ..model import Oracle
from ..settings import OracleSettings

EYERISS_POWER_W = 0.278  # JSSC 2017, AlexNet CONV layers, 278 mW
EYERISS_FPS = 34.7  # same measurement (batch 4)
EYERISS_HW = {
    "pe_rows": 12, "pe_cols": 14, "rf_bytes": 512, "glb_kib": 108 * 1000 / 1024, "dram_gbps": 1.6,
    "freq_mhz": 200, "bits": 16, "dataflow": "ws",
}
# The DRAM link (64 bit at the 200 MHz core clock = 1.6 GB/s) is our assumption, not a published figure.
# Eyeriss's nominal point: 1.0 V at 200 MHz (published operating point; the DVFS curve is anchored there).
EYERISS_SETTINGS = OracleSettings(tech_nm=65, dram="lpddr4", v_nom=1.0, f_nom_mhz=200.0)


def alexnet() -> Network:
    """AlexNet's feature extractor at 227 x 227 (Krizhevsky et al., NeurIPS 2012), with the original
    two-group convolutions 2, 4 and 5 (as on the two GPUs, and as Eyeriss ran it)."""
    blocks = [
        ConvBlock(3, 96, 11, 227, stride=4, padding=0),  # -> 55
        PoolBlock(96, 55, mode="max", kernel=3, stride=2),  # -> 27
        ConvBlock(96, 256, 5, 27, groups=2, padding=2),
        PoolBlock(256, 27, mode="max", kernel=3, stride=2),  # -> 13
        ConvBlock(256, 384, 3, 13, padding=1),
        ConvBlock(384, 384, 3, 13, groups=2, padding=1),
        ConvBlock(384, 256, 3, 13, groups=2, padding=1),
    ]
    return Network.build(blocks, 227, name="alexnet-features")


def alexnet_conv_layers() -> LayerTable:
    """Only the five convolution layers (Eyeriss's measured workload; pooling ran off-chip)."""
    table = alexnet().layer_table()
    return table.take(np.flatnonzero(table.op == LayerOp.CONV))


@dataclass(frozen=True)
class CalibrationResult:
    power_core_w: float
    power_bw_w: float
    latency_ms: float
    fps: float
    published_power_w: float = EYERISS_POWER_W
    published_fps: float = EYERISS_FPS

    @property
    def ratio(self) -> float:
        """Oracle chip power / published chip power (target: within [0.5, 2])."""
        return self.power_core_w / self.published_power_w


def eyeriss_alexnet(oracle: Oracle | None = None) -> CalibrationResult:
    """Run the oracle configured like Eyeriss on AlexNet's convolution layers (batch 1)."""
    oracle = oracle or Oracle(EYERISS_SETTINGS)
    c = oracle.evaluate_layers(alexnet_conv_layers(), {k: np.asarray([v]) for k, v in EYERISS_HW.items()})
    t = float(c["latency_s"].sum())
    e_core, e_bw = float(c["e_core_pj"].sum()) * 1e-12, float(c["e_bw_pj"].sum()) * 1e-12
    return CalibrationResult(power_core_w=e_core / t, power_bw_w=e_bw / t, latency_ms=t * 1e3, fps=1.0 / t)
