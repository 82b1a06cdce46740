"""How targets are stored: float32 exactly when that loses none of the written digits; Parquet layout;
errors keep their order although the shards are parsed in a background thread."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.processing import load_processed, process
from hwpower.processing.storage import fits_float32

from .rawfiles import make_rows, standard_raw

# A decimal with exactly `digits` significant digits: mantissa (no trailing zero) and exponent.
def decimals(digits: int):
    low, high = 10 ** (digits - 1), 10 ** digits - 1
    mantissa = st.integers(low, high).filter(lambda m: m % 10)
    return st.builds(lambda m, e: float(decimal.Decimal(m).scaleb(e)), mantissa, st.integers(-30, 30))


@settings(max_examples=300)
@given(st.lists(st.one_of(*(decimals(d) for d in range(1, 7))), min_size=1, max_size=20))
def test_values_with_at_most_6_digits_fit_and_come_back_exactly(values):
    assert fits_float32(np.array(values))
    back = np.array(values).astype(np.float32).astype(np.float64)
    assert [float(f"{v:.6g}") for v in back] == values  # FLT_DIG: the written decimal is recovered


@settings(max_examples=300)
@given(st.one_of(*(decimals(d) for d in range(7, 13))), st.lists(decimals(5), max_size=5))
def test_one_value_with_more_digits_keeps_the_column_float64(long, others):
    assert not fits_float32(np.array([*others, long]))


def test_fits_float32_edges():
    assert fits_float32(np.array([0.0, 1.0, 0.000123456, 999999.0, 3.4e38]))
    assert not fits_float32(np.array([1e39]))  # beyond float32's range
    assert not fits_float32(np.array([1e-40]))  # float32 subnormal: digits lost
    assert not fits_float32(np.array([0.300000000001]))  # a 12th written digit is seen
    assert fits_float32(np.array([0.1 + 0.2]))  # 0.30000000000000004: float64 noise, not a written digit
    assert fits_float32(np.array([], dtype=float))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    raw = standard_raw(tmp_path_factory.mktemp("raw"))
    out = tmp_path_factory.mktemp("out") / "processed"
    return process(raw, out, progress=False), out


def test_float32_targets_round_trip_through_parquet(written):
    ds, out = written
    back = load_processed(out)
    storage = ds.manifest["storage"]
    assert storage["targets"] == {"P_core": "float32", "P_bw": "float32", "P": "float32",
                                  "latency_ms": "float32", "energy_mj": "float64"}
    assert "6 significant digits" in storage["rule"]
    for name, dtype in storage["targets"].items():
        assert back.train[name].dtype == np.dtype(dtype) == ds.train[name].dtype
        np.testing.assert_array_equal(back.train[name].to_numpy(), ds.train[name].to_numpy())
    written = [r["P"] for r in make_rows(30, 1) + make_rows(20, 2) + make_rows(10, 3, net_ids=(1, 3))]
    assert ds.manifest["ranges"]["P"] == [min(written), max(written)]  # the written values, exactly


def test_parquet_layout_splits_targets_and_dictionary_encodes_the_rest(written):
    _, out = written
    meta = pq.ParquetFile(out / "train.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "BYTE_STREAM_SPLIT" in encodings["P"] and "BYTE_STREAM_SPLIT" in encodings["energy_mj"]
    for name in ("network", "pe_rows", "dram_gbps", "dataflow"):
        assert any("DICTIONARY" in e for e in encodings[name]), name
    assert meta.column(0).compression == "ZSTD"


def test_a_bad_nets_file_is_reported_before_a_bad_sample_file(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    (raw / "train_0.txt").write_text("")  # parsed in the background thread first
    (raw / "nets_0.json").write_text("{")  # but the networks are checked first, as before
    with pytest.raises(InputError) as err:
        process(raw, progress=False)
    assert err.value.file.endswith("nets_0.json")
