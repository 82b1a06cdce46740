"""Roofline features: hand-computed values, the physics' monotonicity, gradients through ceilings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hwpower.model.encoding import HardwareEncoder
from hwpower.model.roofline import EPS, Roofline, layer_raw

ENC = HardwareEncoder.fit(
    pd.DataFrame({"pe_rows": [4, 64], "pe_cols": [4, 64], "freq_mhz": [200, 1000], "dram_gbps": [4, 64],
                  "bits": ["8", "16"], "dataflow": ["os", "ws"]}),
    ["pe_rows", "pe_cols", "freq_mhz", "dram_gbps"], {"bits": ["8", "16"], "dataflow": ["os", "ws"]})
# One 3x3 convolution, 32 -> 64 channels, 28 x 28 output.
CONV = pd.DataFrame({"groups": [1], "in_channels": [32], "out_channels": [64], "kernel": [3], "out_size": [28],
                     "macs": [28 * 28 * 64 * 32 * 9], "other_ops": [0], "weights": [64 * 32 * 9 + 128],
                     "in_act": [32 * 30 * 30], "out_act": [64 * 28 * 28]})


def features(rows: int, cols: int, *, freq=500, dram=16, bits="8", dataflow="ws") -> torch.Tensor:
    hw = pd.DataFrame([{"pe_rows": rows, "pe_cols": cols, "freq_mhz": freq, "dram_gbps": dram, "bits": bits,
                        "dataflow": dataflow}])
    lay = torch.tensor(layer_raw(CONV), dtype=torch.float32)[None, None]  # (1, 1, 1, 9)
    x = torch.from_numpy(ENC.encode(hw))
    return Roofline(ENC).raw_features(x, lay, torch.ones(1, 1, 1, dtype=torch.bool))[0, :, 0]  # (B, F, L)


def test_hand_computed_weight_stationary():
    f = features(16, 16, freq=500)
    macs = 28 * 28 * 64 * 32 * 9
    ideal = macs / (256 * 500e6)
    util = (288 / (math.ceil(288 / 16) * 16)) * (64 / (math.ceil(64 / 16) * 16))  # = 1: dims divide evenly
    assert math.exp(f[0]) == pytest.approx(ideal, rel=1e-4)
    assert math.exp(f[1]) == pytest.approx(ideal / util, rel=1e-4)
    f = features(16, 48, freq=500)  # 64 output channels on 48 columns: 2 folds, utilisation 2/3
    assert math.exp(f[1]) / math.exp(f[0]) == pytest.approx(1.5, rel=1e-4)
    words = 64 * 32 * 9 + 128 + 32 * 30 * 30 + 64 * 28 * 28
    assert math.exp(f[2]) - EPS == pytest.approx(words * 8 / (8e9 * 16), rel=1e-4)  # 8-bit words at 16 GB/s


@given(st.sampled_from([4, 8, 12, 16, 24, 32, 48, 64]), st.sampled_from([4, 8, 16, 32, 64]),
       st.sampled_from(["ws", "os"]))
def test_compute_time_never_grows_with_more_rows(rows, cols, dataflow):
    """Cycles = ceil(D1/R) x ceil(D2/C) x T cannot increase with R (utilisation may drop, time not)."""
    a, b = features(rows, cols, dataflow=dataflow), features(min(rows * 2, 64), cols, dataflow=dataflow)
    assert b[1] <= a[1] + 1e-5


def test_gradient_flows_through_ceilings():
    hw = pd.DataFrame([{"pe_rows": 12, "pe_cols": 24, "freq_mhz": 400, "dram_gbps": 8, "bits": "16", "dataflow": "os"}])
    x = torch.from_numpy(ENC.encode(hw)).requires_grad_(True)
    lay = torch.tensor(layer_raw(CONV), dtype=torch.float32)[None, None]
    Roofline(ENC).raw_features(x, lay, torch.ones(1, 1, 1, dtype=torch.bool))[0, 1, 0].backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[0, 0] < 0 and x.grad[0, 1] < 0  # more rows or columns: less compute time
    assert np.isclose(float(x.grad[0, 3]), 0.0)  # DRAM bandwidth does not enter compute time
