"""Physical sanity of the oracle as properties over random layers and random configurations."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hwpower.networks import Layer, LayerOp, LayerTable
from hwpower.oracle import HardwareSpace, Oracle, OracleSettings

ORACLE = Oracle()
SPACE = HardwareSpace.default()


@st.composite
def layers(draw) -> Layer:
    op = draw(st.sampled_from([LayerOp.CONV, LayerOp.CONV, LayerOp.LINEAR, LayerOp.POOL, LayerOp.ELTWISE]))
    c = draw(st.integers(1, 512))
    size = draw(st.integers(1, 112))
    if op is LayerOp.CONV:
        depthwise = draw(st.booleans())
        k = draw(st.sampled_from([1, 3, 5, 7]))
        stride = draw(st.sampled_from([1, 2]))
        out = c if depthwise else draw(st.integers(1, 512))
        return Layer("c", op, c, out, size, (size - 1) // stride + 1, kernel=k, stride=stride,
                     groups=c if depthwise else 1)
    if op is LayerOp.LINEAR:
        return Layer("fc", op, c * draw(st.integers(1, 49)), draw(st.integers(1, 1000)), 1, 1)
    if op is LayerOp.POOL:
        return Layer("p", op, c, c, size, 1, kernel=size, stride=size)
    return Layer("a", op, c, c, size, size, n_inputs=2)


layer_tables = st.lists(layers(), min_size=1, max_size=6).map(LayerTable.from_layers)


@st.composite
def configs(draw) -> dict[str, np.ndarray]:
    """A configuration anywhere in the space's ranges (not only on the grid)."""
    hw = {}
    for p in SPACE.params:
        if p.is_categorical:
            hw[p.name] = draw(st.sampled_from(p.grid))
        elif p.kind == "int":
            hw[p.name] = draw(st.integers(int(p.low), int(p.high)))
        else:
            hw[p.name] = draw(st.floats(p.low, p.high))
    return hw


def evaluate(table: LayerTable, hw: dict, **sweep) -> dict[str, np.ndarray]:
    """Evaluate ``table`` on copies of ``hw`` where one parameter takes the swept values."""
    (name, values), = sweep.items()
    cols = {k: np.full(len(values), v, dtype=object if isinstance(v, str) else float) for k, v in hw.items()}
    cols[name] = np.asarray(values, dtype=float)
    return ORACLE.evaluate_layers(table, cols)


def power(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t = c["latency_s"].sum(1)
    return c["e_core_pj"].sum(1) / t, (c["e_core_pj"] + c["e_bw_pj"]).sum(1) / t


@given(layer_tables, configs())
def test_power_rises_with_frequency(table, hw):
    freqs = np.arange(100, 1001, 50)
    p_core, p = power(evaluate(table, hw, freq_mhz=freqs))
    assert np.all(np.diff(p) >= -1e-12 * p[1:])
    # Above the voltage floor every step raises V, hence dynamic energy per op and core power.
    v = OracleSettings().voltage(freqs)
    rising = np.diff(v) > 1e-6
    assert rising.sum() >= 5
    assert np.all(np.diff(p_core)[rising] > 0)


@given(layer_tables, configs())
def test_dram_traffic_never_rises_when_the_buffer_grows(table, hw):
    c = evaluate(table, hw, glb_kib=np.geomspace(16, 4096, 25))
    assert np.all(np.diff(c["dram_words"], axis=0) <= 0)


@given(layer_tables, configs())
def test_latency_never_rises_when_bandwidth_grows(table, hw):
    c = evaluate(table, hw, dram_gbps=np.geomspace(1, 64, 25))
    assert np.all(np.diff(c["latency_s"], axis=0) <= 0)


@given(layer_tables, layer_tables, configs())
def test_energy_and_latency_are_additive_over_layers(a, b, hw):
    both = LayerTable.concat([a, b])
    c_a, c_b, c_ab = (evaluate(t, hw, freq_mhz=[hw["freq_mhz"]]) for t in (a, b, both))
    for key in ("e_core_pj", "e_bw_pj", "latency_s"):
        np.testing.assert_allclose(c_ab[key].sum(), c_a[key].sum() + c_b[key].sum(), rtol=1e-12)
        np.testing.assert_array_equal(c_ab[key][0, :len(a)], c_a[key][0])


@given(layer_tables, st.integers(0, 2**31 - 1))
def test_outputs_finite_and_positive_over_the_space(table, seed):
    hw = SPACE.sample(64, seed)
    c = ORACLE.evaluate_layers(table, hw)
    for key in ("e_core_pj", "e_bw_pj", "latency_s", "dram_words", "glb_words"):
        assert np.all(np.isfinite(c[key])) and np.all(c[key] > 0), key
    # the extreme corners of the grid too
    corners = {p.name: np.asarray([p.grid[0], p.grid[-1]], dtype=object if p.is_categorical else float)
               for p in SPACE.params}
    c = ORACLE.evaluate_layers(table, corners)
    assert np.all(np.isfinite(c["e_core_pj"])) and np.all(c["latency_s"] > 0)


@given(layer_tables, configs())
def test_latency_between_the_bounds_and_their_sum(table, hw):
    """Overlap model (oracle/array.py): never faster than the slowest of compute, buffer and DRAM,
    never slower than compute (or buffer) and DRAM in series."""
    c = evaluate(table, hw, glb_kib=np.geomspace(16, 4096, 9))
    compute = np.maximum(c["compute_s"], c["glb_s"])
    assert np.all(c["latency_s"] >= compute * (1 - 1e-12))
    assert np.all(c["latency_s"] >= c["dram_s"] * (1 - 1e-12))
    assert np.all(c["latency_s"] <= (compute + c["dram_s"]) * (1 + 1e-12))


@given(layer_tables, configs())
def test_utilisation_at_most_one_for_every_kind(table, hw):
    for dataflow in ("ws", "os"):
        c = evaluate(table, {**hw, "dataflow": dataflow}, pe_rows=[4, 7, 16, 64])
        assert np.all(c["utilisation"] >= 0) and np.all(c["utilisation"] <= 1 + 1e-12)
        macs = np.asarray(table.macs) > 0
        assert np.all(c["utilisation"][:, macs] > 0)


@given(st.integers(2, 256), st.integers(3, 56), st.sampled_from([1, 3, 5, 7]), configs())
def test_depthwise_uses_fewer_pes_than_dense_on_weight_stationary(c, size, k, hw):
    dense = Layer("d", LayerOp.CONV, c, c, size, size, kernel=k)
    dw = Layer("dw", LayerOp.CONV, c, c, size, size, kernel=k, groups=c)
    u = evaluate(LayerTable.from_layers([dense, dw]), {**hw, "dataflow": "ws"}, pe_cols=[4, 16, 64])["utilisation"]
    assert np.all(u[:, 1] <= u[:, 0] * (1 + 1e-12))
    assert np.all(u[:, 1] <= k * k / (hw["pe_rows"] * np.array([4, 16, 64])) + 1e-12)  # R*S PEs at most
