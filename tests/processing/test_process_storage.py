"""How the processed dataset is stored: exact decimal targets, networks as distinct blocks, Parquet
layout; errors keep their order although the shards are parsed in a background thread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hwpower import __version__
from hwpower.errors import InputError
from hwpower.processing import load_processed, process, write_processed

from .rawfiles import make_rows, standard_raw, write_raw


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    raw = standard_raw(tmp_path_factory.mktemp("raw"))
    out = tmp_path_factory.mktemp("out") / "processed"
    return process(raw, out, progress=False), out


def test_targets_come_back_bit_exact_from_their_decimal_storage(written):
    ds, out = written
    back = load_processed(out)
    storage = ds.manifest["storage"]["targets"]
    # P_core, P_bw: 5 decimals below 10 W (<= 6 digits); latency: 4 decimals below 100 ms
    assert storage["P_core"] == {"encoding": "decimal", "digits": 6, "columns": ["P_core__sig", "P_core__exp10"]}
    assert storage["latency_ms"]["encoding"] == "decimal"
    # P = P_core + P_bw exactly here: stored as a residual (all zero) against the sum
    assert storage["P"] == {"encoding": "residual", "digits": 6, "op": "sum", "parts": ["P_core", "P_bw"],
                            "columns": ["P__residual"]}
    # energy: 4 decimals up to ~200 mJ (7 digits), so 9-digit decimals; its residual against P x latency
    # rounded to 9 digits would not fit int16 where the 4 decimals are far coarser (a few mJ)
    assert storage["energy_mj"] == {"encoding": "decimal", "digits": 9, "columns": ["energy_mj__sig", "energy_mj__exp10"]}
    for split in ("train", "val"):
        for name in storage:
            a, b = getattr(ds, split)[name].to_numpy(), getattr(back, split)[name].to_numpy()
            assert a.dtype == b.dtype == np.float64
            assert a.view(np.int64).tolist() == b.view(np.int64).tolist(), (split, name)  # bit for bit
    written_p = [r["P"] for r in make_rows(30, 1) + make_rows(20, 2) + make_rows(10, 3, net_ids=(1, 3))]
    assert ds.manifest["ranges"]["P"] == [min(written_p), max(written_p)]
    residual = pq.read_table(out / "train.parquet", columns=["P__residual"])["P__residual"].to_numpy()
    assert residual.dtype == np.int16 and (residual == 0).all()


def test_a_target_with_17_digits_stays_float64_and_exact(tmp_path):
    rows = make_rows(20, 1)
    rows[3]["latency_ms"] = 1.2345678901234567  # repr keeps all 17 digits
    rows[3]["energy_mj"] = rows[3]["P"] * rows[3]["latency_ms"]
    raw = write_raw(tmp_path / "raw", [rows], [make_rows(5, 2)])
    ds = process(raw, tmp_path / "out", progress=False)
    storage = ds.manifest["storage"]["targets"]
    assert storage["latency_ms"] == {"encoding": "float64", "columns": ["latency_ms"]}
    assert ds.train["latency_ms"].iloc[3] == 1.2345678901234567
    back = load_processed(tmp_path / "out")
    pd.testing.assert_frame_equal(back.train, ds.train, check_exact=True)


def test_parquet_layout(written):
    _, out = written
    meta = pq.ParquetFile(out / "train.parquet").metadata
    group = meta.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "BYTE_STREAM_SPLIT" in encodings["P_core__sig"] and "BYTE_STREAM_SPLIT" in encodings["latency_ms__sig"]
    for name in ("network", "pe_rows", "dram_gbps", "dataflow", "P_core__exp10", "P__residual"):
        assert any("DICTIONARY" in e for e in encodings[name]), name
    assert group.column(0).compression == "ZSTD"
    assert meta.metadata[b"hwpower_version"] == __version__.encode()
    assert "P" not in meta.schema.names  # only its residual is stored
    assert meta.num_row_groups == 2  # one per train file, written as each was checked


def test_networks_are_stored_as_distinct_blocks_and_expanded_on_reading(written):
    ds, out = written
    stored = {name: pq.read_table(out / f"{name}.parquet").num_rows
              for name in ("networks", "network_blocks", "unique_blocks", "unique_layers")}
    assert stored["networks"] == len(ds.networks) == 4
    assert stored["network_blocks"] == len(ds.blocks)
    assert stored["unique_blocks"] == ds.manifest["counts"]["distinct_blocks"] < len(ds.blocks)
    assert stored["unique_layers"] < len(ds.layers) == ds.manifest["counts"]["layers"]
    back = load_processed(out)
    for name in ("networks", "blocks", "layers"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(ds, name), check_exact=True)


def test_write_processed_writes_a_changed_dataset(written, tmp_path):
    _, out = written
    ds = load_processed(out)
    ds.train = ds.train.iloc[::2].reset_index(drop=True)
    write_processed(ds, tmp_path / "again")
    back = load_processed(tmp_path / "again")
    pd.testing.assert_frame_equal(back.train, ds.train, check_exact=True)
    pd.testing.assert_frame_equal(back.val, ds.val, check_exact=True)


def test_an_older_format_is_refused_with_a_clear_error(written, tmp_path):
    _, out = written
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(out, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"format 1 .*this hwpower reads format 3 .*run `hwpower process RAW_DIR --out DIR` again"):
        load_processed(old)


def test_a_bad_nets_file_is_reported_before_a_bad_sample_file(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    (raw / "train_0.txt").write_text("")  # parsed in the background thread first
    (raw / "nets_0.json").write_text("{")  # but the networks are checked first, as before
    with pytest.raises(InputError) as err:
        process(raw, progress=False)
    assert err.value.file.endswith("nets_0.json")


def test_a_later_file_that_needs_more_digits_rewrites_the_split_exactly(tmp_path):
    """The storage chosen on the first file is imposed on the next; a file it cannot hold (here a
    latency with 8 digits) makes process choose again over all files and write the splits whole."""
    first, later = make_rows(20, 1), make_rows(20, 2)
    later[5]["latency_ms"] = 12.345678
    later[5]["energy_mj"] = round(later[5]["P"] * later[5]["latency_ms"], 4)
    raw = write_raw(tmp_path / "raw", [first, later], [make_rows(5, 3)])
    ds = process(raw, tmp_path / "out", progress=False)
    assert ds.manifest["storage"]["targets"]["latency_ms"]["digits"] == 9
    back = load_processed(tmp_path / "out")
    pd.testing.assert_frame_equal(back.train, ds.train, check_exact=True)
    assert back.train["latency_ms"].iloc[25] == 12.345678
    assert pq.ParquetFile(tmp_path / "out" / "train.parquet").metadata.num_row_groups == 1  # written whole
