"""Bounded memory: ``process`` writes each shard's rows as they are checked and lets them go, reading
a few shards ahead at most; the files equal those of a run holding every row (docs/scale.md)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from hwpower.processing import load_processed, process
from hwpower.processing import pipeline
from hwpower.processing.reading import ShardQueue

from .rawfiles import make_rows, write_raw

OPTIONS = {"schema": None, "progress": False, "strict": False, "require_val": True}


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _in_memory(raw, out, skip_bad_rows=False):
    """The run that holds every row until the end (what ``process`` did before streaming)."""
    return pipeline._process(raw, out, keep=True, skip_bad_rows=skip_bad_rows, **OPTIONS)


def test_streamed_output_equals_the_in_memory_run(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(25, s) for s in range(6)], [make_rows(15, 10), make_rows(9, 11)])
    ds = process(raw, tmp_path / "streamed", progress=False)
    held = _in_memory(raw, tmp_path / "held")
    assert _files(tmp_path / "streamed") == _files(tmp_path / "held")
    assert ds.manifest == held.manifest and ds.manifest["counts"]["train_rows"] == 150
    pd.testing.assert_frame_equal(ds.train, load_processed(tmp_path / "held").train)  # read back from the output
    assert ds.train["P"].tolist() == [r["P"] for s in range(6) for r in make_rows(25, s)]


def _storage_change(rows):
    rows[3]["P_core"] = 0.123456789  # needs 9 significant digits where the first shard needs 6
    rows[3]["P"] = round(rows[3]["P_core"] + rows[3]["P_bw"], 9)
    rows[3]["energy_mj"] = round(rows[3]["P"] * rows[3]["latency_ms"], 4)
    return rows


@pytest.mark.parametrize("case", ["storage", "bad_row"])
def test_a_shard_unlike_the_first_gives_the_in_memory_output(tmp_path, case, caplog):
    later = _storage_change(make_rows(20, 3)) if case == "storage" else make_rows(20, 3)
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1), make_rows(20, 2), later], [make_rows(10, 4)])
    if case == "bad_row":
        path = raw / "train_2.txt"
        lines = path.read_text().splitlines(keepends=True)
        lines[5] = lines[5].replace(" os ", " xx ").replace(" ws ", " xx ")
        path.write_text("".join(lines))
    with caplog.at_level(logging.INFO, logger="hwpower.processing.pipeline"):
        ds = process(raw, tmp_path / "streamed", progress=False, skip_bad_rows=True)
    assert "processing again with every row in memory" in caplog.text
    held = _in_memory(raw, tmp_path / "held", skip_bad_rows=True)
    assert _files(tmp_path / "streamed") == _files(tmp_path / "held")
    digits = ds.manifest["storage"]["targets"]["P_core"]["digits"]
    assert (len(ds.rejects), digits) == ((0, 9) if case == "storage" else (1, 6))
    assert len(ds.train) == 60 - len(ds.rejects)


def test_shards_are_read_a_few_ahead_only(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(5, s) for s in range(10)], [make_rows(5, 20)])
    files = [("train", p) for p in sorted(raw.glob("train_*.txt"))] + [("val", raw / "val_0.txt")]
    with ThreadPoolExecutor(1) as loader, ThreadPoolExecutor(1) as checker:
        queue = ShardQueue(loader, checker, files, None, False, ahead=2)
        assert (len(queue.pending), queue.next) == (3, 3)  # the first and two more queued, 8 not yet
        seen = 0
        for future in queue:
            assert len(queue.pending) <= 3
            future.result()
            seen += 1
        assert seen == 11


def test_a_folder_without_validation_files_streams_too(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1), make_rows(20, 2)], [])
    ds = process(raw, tmp_path / "streamed", progress=False, require_val=False)
    held = pipeline._process(raw, tmp_path / "held", keep=True, skip_bad_rows=False,
                             **{**OPTIONS, "require_val": False})
    assert _files(tmp_path / "streamed") == _files(tmp_path / "held")
    assert (len(ds.train), len(ds.val), ds.manifest["counts"]["val_rows"]) == (40, 0, 0)


def _lines(path):
    return path.read_text().splitlines(keepends=True)


def test_repeated_rows_are_named_across_shards(tmp_path):
    from hwpower.errors import InputError

    raw = write_raw(tmp_path / "raw", [make_rows(12, 1), make_rows(12, 2)], [make_rows(6, 3)])
    t0, t1, v0 = (_lines(raw / n) for n in ("train_0.txt", "train_1.txt", "val_0.txt"))
    (raw / "val_0.txt").write_text("".join(v0[:3] + [t1[2]] + v0[3:]))  # val line 4 = train_1 line 3
    with pytest.raises(InputError, match=r"1 validation rows repeat training rows .*; the first repeats "
                                         "train_1.txt line 3") as info:
        process(raw, tmp_path / "a", progress=False, strict=True)
    assert (info.value.file, info.value.where) == (str(raw / "val_0.txt"), "line 4")
    # train_1 line 6 repeats train_0 line 8, its line 11 its own line 4: two repeats, the first named
    t1 = t1[:5] + [t0[7]] + t1[5:9] + [t1[3]] + t1[9:]
    (raw / "train_1.txt").write_text("".join(t1))
    with pytest.raises(InputError, match="2 duplicate train rows; the first repeats train_0.txt line 8") as info:
        process(raw, tmp_path / "b", progress=False, strict=True)
    assert (info.value.file, info.value.where) == (str(raw / "train_1.txt"), "line 6")
