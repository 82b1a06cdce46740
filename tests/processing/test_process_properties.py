"""Property tests: any file shape round-trips the exact values; the power-sum check is exactly its tolerance."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.processing import process
from hwpower.processing.schema import POWER_ATOL_W, POWER_RTOL

from .rawfiles import HEADER, Shape, write_raw

power = st.floats(min_value=1e-4, max_value=50, allow_nan=False, allow_infinity=False)


@st.composite
def rows(draw):
    n = draw(st.integers(1, 6))
    out = []
    for _ in range(n):
        p_core, p_bw, latency = draw(power), draw(power), draw(power)
        out.append({
            "pe_rows": draw(st.sampled_from([4, 8, 64])), "pe_cols": draw(st.integers(1, 512)), "rf_bytes": 64,
            "glb_kib": draw(st.integers(1, 10**6)), "dram_gbps": draw(st.floats(0.01, 1e3)),
            "freq_mhz": draw(st.floats(1, 5000)), "bits": draw(st.sampled_from([8, 16])),
            "dataflow": draw(st.sampled_from(["os", "ws"])), "network": f"nets_0/{draw(st.integers(0, 3))}",
            "P_core": p_core, "P_bw": p_bw, "P": p_core + p_bw, "latency_ms": latency,
            "energy_mj": (p_core + p_bw) * latency,
        })
    return out


shapes = st.builds(
    Shape,
    sep=st.sampled_from([" ", ",", ";", "\t"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    columns=st.permutations(HEADER),
    pad=st.sampled_from(["", " ", "  "]),
)


@settings(max_examples=25)
@given(train=rows(), shape=shapes)
def test_any_shape_round_trips_exact_values(train, shape):
    with tempfile.TemporaryDirectory() as tmp:
        ds = process(write_raw(Path(tmp), [train], [], shape), progress=False, require_val=False)
    assert len(ds.train) == len(train)
    for col in HEADER:
        if ds.train[col].dtype == np.float32:  # a target whose values all have <= 6 significant digits
            want = [r[col] for r in train]
            assert ds.train[col].tolist() == np.float32(want).tolist(), col  # the nearest float32, exactly
            assert [float(f"{v:.6g}") for v in ds.train[col].tolist()] == want, col  # the written value back
            continue
        got = ds.train[col].astype(str if col in ("network", "dataflow") else float).tolist()
        assert got == [r[col] for r in train], col


@settings(max_examples=30)
@given(p_core=power, p_bw=power, rel=st.floats(-3e-3, 3e-3))
def test_power_sum_check_is_exactly_its_tolerance(p_core, p_bw, rel):
    total = (p_core + p_bw) * (1 + rel)
    row = {"pe_rows": 8, "pe_cols": 8, "rf_bytes": 64, "glb_kib": 64, "dram_gbps": 8.0, "freq_mhz": 500,
           "bits": 8, "dataflow": "ws", "network": "nets_0/0", "P_core": p_core, "P_bw": p_bw, "P": total,
           "latency_ms": 1.0, "energy_mj": total}
    ok = abs(total - (p_core + p_bw)) <= POWER_ATOL_W + POWER_RTOL * abs(total)
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_raw(Path(tmp), [[row]], [])
        try:
            ds = process(raw, progress=False, require_val=False)
            accepted = len(ds.train) == 1
        except InputError as exc:
            assert "disagrees with P_core + P_bw" in str(exc) and exc.where == "line 2"
            accepted = False
    assert accepted == ok
    assert np.isfinite(total)
