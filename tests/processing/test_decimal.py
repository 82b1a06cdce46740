"""The exact decimal codec for targets: bit-exact round trips, residuals of sums and products, forced storage."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.processing import targets as tgt
from hwpower.processing.decimal import (
    Decimal, apply_residual, dec_product, dec_round, dec_sum, find_decimal, from_decimal, residual, to_decimal,
)
from hwpower.processing.targets import (
    Relation, choose_storage, decode_targets, encode_tables, encode_targets, stored_target_choice_text,
)

RELATIONS = [Relation("P", "sum", ("P_core", "P_bw")), Relation("energy_mj", "product", ("P", "latency_ms"))]


def bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.int64)


def g6(x: float) -> float:
    """What ``hwpower generate`` writes (``%.6g``), parsed back."""
    return float(f"{x:.6g}")


def dec_of(*pairs: tuple[int, int]) -> Decimal:
    sig, exp = zip(*pairs)
    return Decimal(np.array(sig, np.int64), np.array(exp, np.int64))


def exact(d: Decimal) -> list[Fraction]:
    return [Fraction(int(s)) * Fraction(10) ** int(e) for s, e in zip(d.sig, d.exp)]


def assert_same_tables(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == np.float64
        np.testing.assert_array_equal(bits(got[name]), bits(want[name]), err_msg=name)


# --- property tests -------------------------------------------------------------------------------------------

@st.composite
def written_decimals(draw, digits: int):
    """(text, significand, exponent) for a value of ``digits`` significant digits in 1e-12..1e6, or zero."""
    if draw(st.integers(0, 9)) == 0:
        return "0", 0, 0
    lo, hi = 10 ** (digits - 1), 10**digits - 1  # the ends sit next to powers of ten, where log10 misleads
    sig = draw(st.one_of(st.integers(lo, hi), st.sampled_from([lo, lo + 1, hi - 1, hi])))
    sig *= draw(st.sampled_from([1, -1]))
    exp = draw(st.integers(-12 - (digits - 1), 6 - (digits - 1)))
    return f"{sig}e{exp}", sig, exp


@given(st.sampled_from([6, 9, 12, 15]).flatmap(
    lambda d: st.tuples(st.just(d), st.lists(written_decimals(d), min_size=1, max_size=30))))
def test_written_decimals_round_trip_bit_exactly(case):
    digits, rows = case
    values = np.array([float(text) for text, _, _ in rows])
    # 10**-23 and below are not exact doubles: such values need fewer digits or stay float64
    fits = all(s == 0 or e + (len(str(abs(s))) - digits) >= -22 for _, s, e in rows)
    d = to_decimal(values, digits)
    assert (d is not None) == fits
    if d is None:
        return
    np.testing.assert_array_equal(bits(from_decimal(d)), bits(values))
    assert exact(d) == [Fraction(s) * Fraction(10) ** e for _, s, e in rows]
    nonzero = d.sig != 0
    assert ((np.abs(d.sig[nonzero]) >= 10 ** (digits - 1)) & (np.abs(d.sig[nonzero]) < 10**digits)).all()
    assert (d.exp[~nonzero] == 0).all()
    found = find_decimal(values)
    assert found is not None and found[1] <= digits
    np.testing.assert_array_equal(bits(from_decimal(found[0])), bits(values))


def refused(v: float, digits: int) -> bool:
    """Whether no ``digits``-digit decimal with ``|exp| <= 22`` parses to exactly ``v`` (or ``v`` is -0.0)."""
    if not np.isfinite(v) or (v == 0 and np.signbit(v)):
        return True
    text = f"{v:.{digits - 1}e}"  # the nearest such decimal: if it does not parse back to v, none does
    return v != 0 and (float(text) != v or not -22 <= int(text.split("e")[1]) - (digits - 1) <= 22)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20), st.sampled_from([6, 9, 15]))
def test_any_double_is_exact_or_refused(values, digits):
    values = np.array(values)
    d = to_decimal(values, digits)
    assert (d is None) == any(refused(v, digits) for v in values)
    if d is not None:
        np.testing.assert_array_equal(bits(from_decimal(d)), bits(values))


power = st.one_of(st.floats(1e-3, 10.0), st.just(0.0))


@st.composite
def target_tables(draw):
    """Targets as a generator writes them: each rounded to 6 digits from the exact values, optionally a
    total one decade below its rounded formula, a 17-digit column and a NaN."""
    n = draw(st.integers(1, 25))
    core, bw, lat = (np.array(draw(st.lists(power, min_size=n, max_size=n))) for _ in range(3))
    if draw(st.booleans()):  # P_core + P_bw rounds up to 1.00000 while P was written as 0.999999
        core[0], bw[0] = 0.5000004, 0.4999998
    p = core + bw
    table = {"P_core": [g6(v) for v in core], "P_bw": [g6(v) for v in bw], "P": [g6(v) for v in p],
             "latency_ms": [g6(v) for v in lat], "energy_mj": [g6(v) for v in p * lat]}
    if draw(st.booleans()):
        table["P"][0] = 0.999999 if core[0] == 0.5000004 else table["P"][0]
    if draw(st.booleans()):
        table["noise"] = draw(st.lists(st.floats(1e-3, 1e3), min_size=n, max_size=n))
    if draw(st.booleans()):
        table[draw(st.sampled_from(["P_bw", "latency_ms", "energy_mj"]))][-1] = float("nan")
    return {k: np.array(v) for k, v in table.items()}


@given(target_tables())
def test_targets_round_trip_bit_exactly(table):
    arrays, storage = encode_targets(table, RELATIONS)
    assert_same_tables(decode_targets(arrays, json.loads(json.dumps(storage))), table)
    assert {c for s in storage.values() for c in s["columns"]} == set(arrays)
    for name, spec in storage.items():
        if spec["encoding"] == "residual":
            assert all(storage[p]["encoding"] != "float64" for p in spec["parts"])
            assert arrays[f"{name}__residual"].dtype == np.int16
        if np.isnan(table[name]).any():
            assert spec["encoding"] == "float64"
    if not np.isnan(table["P_bw"]).any():
        assert storage["P"]["encoding"] == "residual"
    if "noise" in table and any(float(f"{v:.15g}") != v for v in table["noise"]):  # 16-17 digits
        assert storage["noise"]["encoding"] == "float64"


significand = st.tuples(st.integers(-10**9 + 1, 10**9 - 1), st.integers(-12, 6))


@given(st.lists(st.tuples(significand, significand), min_size=1, max_size=20), st.sampled_from([1, 6, 9, 15]))
def test_decimal_arithmetic_is_exact_or_refused(rows, digits):
    a, b = dec_of(*(x for x, _ in rows)), dec_of(*(y for _, y in rows))
    try:
        total = dec_sum(a, b)
        assert exact(total) == [x + y for x, y in zip(exact(a), exact(b))]
    except OverflowError:  # only where aligning to the smaller exponent reaches 1e18
        assert any(max(abs(s) * 10 ** (e - min(e, f)), abs(t) * 10 ** (f - min(e, f))) >= 10**18
                   for (s, e), (t, f) in rows)
    product = dec_product(a, b)
    assert exact(product) == [x * y for x, y in zip(exact(a), exact(b))]
    for x in (a, product):
        r = dec_round(x, digits)
        for want, s, e, got in zip(exact(x), r.sig, r.exp, exact(r)):
            if want == 0:
                assert (s, e) == (0, 0)
                continue
            assert 10 ** (digits - 1) <= abs(int(s)) < 10**digits
            unit = Fraction(10) ** int(e)
            assert abs(got - want) <= unit / 2  # nearest, ties away from zero:
            assert abs(got - want) < unit / 2 or abs(got) > abs(want)


# --- real values -------------------------------------------------------------------------------------------------

def test_real_values():
    d = to_decimal(np.array([0.00278337, 1.25893, 0.0, 1e22, 123.0]), 6)
    assert d.sig.tolist() == [278337, 125893, 0, 100000, 123000]
    assert d.exp.tolist() == [-8, -5, 0, 17, -3]
    near = np.array([1.0, 10.0, 1e-7, 0.001, 9.99999, 0.999999, 1e-22 * 1e5, 999999e17])  # next to powers of ten
    np.testing.assert_array_equal(bits(from_decimal(to_decimal(near, 6))), bits(near))
    assert to_decimal(np.array([-0.0]), 6) is None  # would come back as +0.0
    assert to_decimal(np.array([1e-18]), 6) is None  # needs 10**-23
    assert to_decimal(np.array([np.inf]), 6) is None and to_decimal(np.array([np.nan]), 15) is None
    assert to_decimal(np.array([0.1 + 0.2]), 15) is None  # 17 digits
    assert find_decimal(np.array([1.25893, 0.123456789])) is not None and \
        find_decimal(np.array([1.25893, 0.123456789]))[1] == 9
    assert find_decimal(np.array([0.1 + 0.2])) is None


def test_residual_of_real_powers():
    core, bw = to_decimal(np.array([0.00278337] * 5), 6), to_decimal(np.array([0.127062] * 5), 6)
    reference = dec_sum(core, bw)  # 0.12984537
    written = np.array([0.129845, 0.129846, 0.129844, g6(0.129845 * 1.001), g6(0.129845 * 1.3)])
    k = residual(to_decimal(written[:4], 6), Decimal(reference.sig[:4], reference.exp[:4]), 6)
    assert k.dtype == np.int16 and k.tolist() == [0, 10, -10, 1300]  # units of the 7th digit: 1e-3 off still fits
    assert residual(to_decimal(written, 6), reference, 6) is None  # 30 % off: k ~ 3.9e5 does not fit int16
    back = apply_residual(Decimal(reference.sig[:4], reference.exp[:4]), k, 6)
    np.testing.assert_array_equal(bits(from_decimal(back)), bits(written[:4]))
    # one decade below the rounded reference: 0.999999 against 1.00000
    one = dec_sum(dec_of((5000004, -7)), dec_of((4999998, -7)))
    k = residual(to_decimal(np.array([0.999999]), 6), one, 6)
    assert k.tolist() == [-1]
    assert from_decimal(apply_residual(one, k, 6)).tolist() == [0.999999]


def test_residual_that_does_not_fit_falls_back_to_decimal():
    table = {"P_core": np.array([0.00278337, 0.00278337]), "P_bw": np.array([0.127062, 0.127062]),
             "P": np.array([0.129845, g6(0.129845 * 1.3)]), "latency_ms": np.array([1.5, 2.5]),
             "energy_mj": np.array([g6(0.129845 * 1.5), 7.0])}
    arrays, storage = encode_targets(table, RELATIONS)
    assert storage["P"] == {"encoding": "decimal", "digits": 6, "columns": ["P__sig", "P__exp10"]}
    assert storage["energy_mj"]["encoding"] == "decimal"  # row 2 is far off too
    assert_same_tables(decode_targets(arrays, storage), table)
    table["P"][1] = g6(0.129845 * 1.001)
    table["energy_mj"][1] = g6(table["P"][1] * 2.5)
    arrays, storage = encode_targets(table, RELATIONS)
    assert arrays["P__residual"].tolist() == [0, 1300]
    assert storage["energy_mj"]["encoding"] == "residual"
    assert_same_tables(decode_targets(arrays, storage), table)


def test_residuals_at_15_digits_and_at_the_exponent_limit():
    sum_only = [RELATIONS[0]]
    core, bw = np.array([0.923456789012345, 0.5]), np.array([0.0123456789012, 0.25])
    table = {"P_core": core, "P_bw": bw, "P": np.array([float(f"{c + b:.15g}") for c, b in zip(core, bw)])}
    arrays, storage = encode_targets(table, sum_only)
    assert storage["P"] == {"encoding": "residual", "digits": 15, "op": "sum", "parts": ["P_core", "P_bw"],
                            "columns": ["P__residual"]}  # 10 * 935802467913545 is past 2**53: kept at r's exponent
    assert_same_tables(decode_targets(arrays, storage), table)
    tiny = {"P_core": np.array([1.23456e-17, 0.0]), "P_bw": np.array([2.5e-17, 0.0]), "P": np.array([3.73456e-17, 0.0])}
    arrays, storage = encode_targets(tiny, sum_only)  # P's exponent is -22: r.exp - 1 would be -23
    assert storage["P"]["encoding"] == "residual" and arrays["P__residual"].tolist() == [0, 0]
    assert_same_tables(decode_targets(arrays, storage), tiny)


def test_dec_round_half_away_from_zero_and_carry():
    r = dec_round(dec_of((1234565, 0), (-1234565, 0), (9999995, 0), (12, -3), (0, 5), (-1234564, 2)), 6)
    assert list(zip(r.sig.tolist(), r.exp.tolist())) == [
        (123457, 1), (-123457, 1), (100000, 2), (120000, -7), (0, 0), (-123456, 3)]


def test_overflow_is_refused_not_wrong():
    big = dec_of((999999, 10))
    tiny = dec_of((123456, -20))
    with pytest.raises(OverflowError):
        dec_sum(big, tiny)  # aligning 10**30 apart needs more than int64
    with pytest.raises(OverflowError):
        dec_product(dec_of((10**15, 0)), dec_of((10**4, 0)))
    assert residual(tiny, dec_of((2, -5)), 6) is None  # digits finer than the reference's 7th
    assert residual(big, dec_of((2, -5)), 6) is None  # aligning overflows
    with pytest.raises(ValueError):
        from_decimal(dec_of((1, -23)))


def test_columns_that_cannot_be_decimal_stay_float64():
    table = {"P_core": np.array([0.1 + 0.2, 1.5]), "P_bw": np.array([0.5, 0.25]), "P": np.array([0.8, 1.75]),
             "latency_ms": np.array([1.0, np.nan]), "energy_mj": np.array([0.8, 1.0])}
    arrays, storage = encode_targets(table, RELATIONS)
    assert {k: v["encoding"] for k, v in storage.items()} == {
        "P_core": "float64", "P_bw": "decimal", "P": "decimal", "latency_ms": "float64", "energy_mj": "decimal"}
    assert storage["P_bw"]["digits"] == 6 and arrays["P_bw__sig"].dtype == np.int32
    assert arrays["P_bw__exp10"].dtype == np.int8
    assert_same_tables(decode_targets(arrays, storage), table)


# --- storage over several tables ----------------------------------------------------------------------------------

def realistic(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    core, bw, lat = (np.exp(rng.uniform(np.log(1e-3), np.log(10), n)) for _ in range(3))
    cols = {"P_core": core, "P_bw": bw, "P": core + bw, "latency_ms": lat, "energy_mj": (core + bw) * lat}
    return {k: np.array([g6(x) for x in v]) for k, v in cols.items()}


def test_forced_storage_for_a_second_table():
    train, val = realistic(300, 0), realistic(200, 1)
    _, storage = encode_targets(train, RELATIONS)
    assert {k: v["encoding"] for k, v in storage.items()} == {
        "P_core": "decimal", "P_bw": "decimal", "P": "residual", "latency_ms": "decimal", "energy_mj": "residual"}
    arrays, same = encode_targets(val, RELATIONS, storage=storage)
    assert same == storage
    assert_same_tables(decode_targets(arrays, storage), val)
    for change in ("digits", "residual"):
        bad = {k: v.copy() for k, v in val.items()}
        if change == "digits":
            bad["latency_ms"][7] = 1.234567891  # needs 10 digits
        else:
            bad["P"][7] = g6(bad["P"][7] * 1.5)  # k out of int16
        with pytest.raises(ValueError):
            encode_targets(bad, RELATIONS, storage=storage)
        assert choose_storage([val, bad], RELATIONS) != storage
    with pytest.raises(ValueError):
        encode_targets({k: v for k, v in val.items() if k != "P"}, RELATIONS, storage=storage)


def test_choose_storage_fits_every_table():
    train, val = realistic(100, 2), realistic(100, 3)
    val["latency_ms"][3] = 1.23456789
    val["energy_mj"][3] = g6(val["P"][3] * 1.23456789)
    storage = choose_storage([train, val], RELATIONS)
    assert storage["latency_ms"]["digits"] == 9 and storage["energy_mj"]["encoding"] == "residual"
    for table in (train, val):
        arrays, same = encode_targets(table, RELATIONS, storage=storage)
        assert same == storage and arrays["latency_ms__sig"].dtype == np.int32
        assert_same_tables(decode_targets(arrays, storage), table)
    (_, a_val), same = encode_tables([train, val], RELATIONS)
    assert same == storage
    assert_same_tables(decode_targets(a_val, storage), val)
    # 12 digits: P's 7-digit significand times latency's 12 would reach 1e18, so energy stays decimal
    val["latency_ms"][3] = 1.234567891
    val["energy_mj"][3] = g6(val["P"][3] * 1.234567891)
    arrays, storage = encode_targets(val, RELATIONS)
    assert storage["latency_ms"]["digits"] == 12 and arrays["latency_ms__sig"].dtype == np.int64
    assert storage["energy_mj"]["encoding"] == "decimal" and storage["P"]["encoding"] == "residual"
    assert_same_tables(decode_targets(arrays, storage), val)


def test_several_blocks(monkeypatch):
    monkeypatch.setattr(tgt, "_BLOCK", 64)
    table = realistic(1000, 4)
    arrays, storage = encode_targets(table, RELATIONS)
    assert storage["P"]["encoding"] == "residual"
    assert_same_tables(decode_targets(arrays, storage), table)
    table["P_bw"][-1] = 0.1 + 0.2  # only the last block needs 17 digits
    arrays, storage = encode_targets(table, RELATIONS)
    assert storage["P_bw"]["encoding"] == "float64" and storage["P"]["encoding"] == "decimal"
    assert_same_tables(decode_targets(arrays, storage), table)


def test_rule_text():
    text = stored_target_choice_text()
    assert "bit-exactly" in text and "residual" in text and "float64" in text
