"""The rows' hashes spilled to disk (processing/hashspill.py): the duplicate and overlap checks bucket by
bucket give the counts and first examples of a check over all hashes at once; the spill folder lives in
the temporary output folder and never outlives the run (docs/scale.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hwpower.errors import InputError
from hwpower.processing import integrity, process, reading
from hwpower.processing.hashspill import BUCKETS, HashSpill
from hwpower.processing.integrity import ShardInfo, check_repeats
from hwpower.processing.pipeline import SPILL_FOLDER
from hwpower.processing.shardstats import ShardStats, _skipped

from .rawfiles import make_rows, write_raw

DEAD_PID = 99_999_999  # above any Linux pid_max: never a live process


def _shard(role: str, k: int, hashes, lines=None) -> ShardInfo:
    hashes = np.asarray(hashes, dtype=np.uint64)
    stats = ShardStats(len(hashes), hashes, {}, np.zeros(0, int), {}, None if lines is None else _skipped(np.asarray(lines)))
    return ShardInfo(role, Path(f"/raw/{role}_{k}.txt"), stats, 0, "", 0)


def _reference(shards: list[ShardInfo]) -> list[str]:
    """The findings, by the definition: every hash in a dict, row by row in file order."""
    out = []
    rows = {r: [(s, i, int(h)) for s in shards if s.role == r for i, h in enumerate(s.stats.hashes)]
            for r in ("train", "val")}
    first = {}
    for role in ("train", "val"):
        seen, count, example = {}, 0, None
        for s, i, h in rows[role]:
            if h in seen:
                count += 1
                example = example or ((s, i), seen[h])
            else:
                seen[h] = (s, i)
        first[role] = seen
        if count:
            (a, i), (b, j) = example
            out.append(f"{a.path}: line {a.stats.line(i)}: {count} duplicate {role} rows; the first repeats "
                       f"{b.path.name} line {b.stats.line(j)}")
    overlap = [(s, i, h) for s, i, h in rows["val"] if h in first["train"]]
    if overlap:
        s, i, h = overlap[0]
        b, j = first["train"][h]
        out.append(f"{s.path}: line {s.stats.line(i)}: {len(overlap)} validation rows repeat training rows "
                   f"(validation would not measure unseen data); the first repeats {b.path.name} "
                   f"line {b.stats.line(j)}")
    return out


def _spilled(shards: list[ShardInfo], folder: Path) -> HashSpill:
    spill = HashSpill(folder)
    for s in shards:
        spill.add(s.role, s.stats.hashes)
    return spill


def test_spill_round_trip_and_buckets(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 2**64, size=n, dtype=np.uint64) for n in (1000, 0, 3)]
    with HashSpill(tmp_path / "s") as spill:
        for h in parts:
            spill.add("train", h)
        assert spill.shard_rows("train") == [1000, 0, 3] and spill.shard_rows("val") == []
        buckets = [spill.bucket("train", b) for b in range(BUCKETS)]
        assert sum(len(h) for h, _ in buckets) == 1003 and not len(spill.bucket("val", 0)[0])
        assert all((h >> np.uint64(56) == i).all() and (np.diff(h.astype(object)) >= 0).all()
                   for i, (h, _) in enumerate(buckets))  # each bucket: its top bits, sorted
        every = np.concatenate(parts)
        for h, rows in buckets:  # each hash with its row number within the split
            assert np.array_equal(every[rows], h)
        assert sorted(np.concatenate([r for _, r in buckets]).tolist()) == list(range(1003))
    assert not (tmp_path / "s").exists()
    spill.close()  # again: nothing


def test_spill_without_a_folder_uses_a_temporary_one():
    with HashSpill() as spill:
        spill.add("val", np.arange(5, dtype=np.uint64))
        folder = spill.folder
        assert folder.is_dir() and any(folder.iterdir())
    assert not folder.exists()


def test_repeats_per_bucket(tmp_path):
    """Equal hashes in one bucket, the first repeat the smallest row over the buckets."""
    top = np.uint64(1 << 56)
    with HashSpill(tmp_path / "s") as spill:
        spill.add("train", np.array([5 * top + 1, 9 * top, 5 * top + 1, 9 * top, 9 * top], dtype=np.uint64))
        spill.add("train", np.array([3 * top, 3 * top], dtype=np.uint64))  # rows 5 and 6
        spill.add("val", np.array([7, 9 * top, 7, 3 * top], dtype=np.uint64))
        found = spill.repeats()
    assert (found["train"].count, found["train"].first, found["train"].earlier) == (4, 2, 0)
    assert (found["val"].count, found["val"].first, found["val"].earlier) == (1, 2, 0)
    assert (found["val_in_train"].count, found["val_in_train"].first, found["val_in_train"].earlier) == (2, 1, 1)


@pytest.mark.parametrize("seed", range(6))
def test_bucketed_checks_equal_the_definition(tmp_path, seed):
    """Duplicates within each split and validation rows in training, planted across shard boundaries and
    across buckets (and within one bucket: hashes differing in their low bits only)."""
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.integers(0, 2**64, size=40, dtype=np.uint64),
                           np.uint64(7 << 56) + np.arange(8, dtype=np.uint64)])  # one bucket, 8 neighbours

    def hashes(n):
        fresh = rng.integers(0, 2**64, size=n, dtype=np.uint64)
        planted = rng.random(n) < 0.05 * (seed % 3)  # seed 0, 3: no repeats at all
        fresh[planted] = rng.choice(pool, size=int(planted.sum()))
        return fresh

    shards = [_shard("train", k, hashes(int(rng.integers(0, 300)))) for k in range(5)]
    shards += [_shard("val", k, hashes(int(rng.integers(0, 100)))) for k in range(3)]
    if seed == 5:  # rejected rows: lines are not row + 2
        shards[1] = _shard("train", 1, shards[1].stats.hashes, np.arange(len(shards[1].stats.hashes)) * 2 + 3)
    with _spilled(shards, tmp_path / "s") as spill:
        got = [f.text() for f in check_repeats(shards, spill)]
    assert got == _reference(shards)
    assert [f.text() for f in check_repeats(shards)] == got  # hashes still in memory: spilled there and then
    if seed % 3:
        assert got  # something was planted and found


def test_first_repeat_across_shard_boundaries(tmp_path):
    t = [_shard("train", 0, [1, 2, 3]), _shard("train", 1, [4, 5]), _shard("train", 2, [6, 2, 4, 4])]
    v = [_shard("val", 0, [10, 11]), _shard("val", 1, [12, 5, 6, 12])]
    with _spilled(t + v, tmp_path / "s") as spill:
        got = [f.text() for f in check_repeats(t + v, spill)]
    assert got == [
        "/raw/train_2.txt: line 3: 3 duplicate train rows; the first repeats train_0.txt line 3",
        "/raw/val_1.txt: line 5: 1 duplicate val rows; the first repeats val_1.txt line 2",
        "/raw/val_1.txt: line 3: 2 validation rows repeat training rows (validation would not measure unseen "
        "data); the first repeats train_1.txt line 3",
    ]


def test_no_validation_shards(tmp_path):
    shards = [_shard("train", 0, [1, 1]), _shard("train", 1, [])]
    with _spilled(shards, tmp_path / "s") as spill:
        assert [f.problem for f in check_repeats(shards, spill)] == [
            "1 duplicate train rows; the first repeats train_0.txt line 2"]


def _watch_spill(monkeypatch) -> list[tuple[Path, bool, list[str]]]:
    """Record where the folder checks found the spill, whether it existed and what it held."""
    seen = []
    check = integrity.check_repeats

    def watched(shards, spill=None):
        seen.append((spill.folder, spill.folder.is_dir(), sorted(p.name for p in spill.folder.iterdir())))
        assert all(s.stats.hashes is None for s in shards)  # spilled, not held
        return check(shards, spill)

    monkeypatch.setattr(reading, "check_repeats", watched)  # where the folder checks call it
    return seen


def test_spill_lives_in_the_temporary_output_and_goes_before_the_rename(tmp_path, monkeypatch):
    seen = _watch_spill(monkeypatch)
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1), make_rows(20, 2)], [make_rows(8, 3)])
    out = tmp_path / "out"
    ds = process(raw, out, progress=False)
    [(folder, existed, names)] = seen
    assert existed and folder.name == SPILL_FOLDER
    assert folder.parent.name.startswith(".out.") and folder.parent.name.endswith(".tmp")  # the temporary output
    assert {"train_00000.bin", "train_00001.bin", "val_00000.bin"} == set(names)  # one file a shard
    assert not folder.parent.exists() and not folder.exists()
    assert SPILL_FOLDER not in {p.name for p in out.iterdir()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]  # nothing left beside
    assert ds.manifest["counts"]["train_rows"] == 40


def test_spill_goes_after_an_error(tmp_path, monkeypatch):
    seen = _watch_spill(monkeypatch)
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1), make_rows(20, 1)], [make_rows(8, 3)])  # duplicates
    with pytest.raises(InputError, match="20 duplicate train rows; the first repeats train_0.txt line 2") as info:
        process(raw, tmp_path / "out", progress=False, strict=True)
    assert (info.value.file, info.value.where) == (str(raw / "train_1.txt"), "line 2")
    [(folder, existed, _)] = seen
    assert existed and not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_spill_without_an_output_goes_too(tmp_path, monkeypatch):
    seen = _watch_spill(monkeypatch)
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1)], [make_rows(8, 3)])
    process(raw, progress=False)
    [(folder, existed, _)] = seen
    assert existed and not folder.exists()


def test_a_killed_runs_spill_goes_with_its_temporary_output(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(20, 1)], [make_rows(8, 3)])
    stale = tmp_path / f".out.{DEAD_PID}.abcd1234.tmp"
    (stale / SPILL_FOLDER).mkdir(parents=True)
    (stale / SPILL_FOLDER / "train.b000").write_bytes(b"\0" * 8)
    process(raw, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]
    assert os.listdir(tmp_path / "out") and SPILL_FOLDER not in os.listdir(tmp_path / "out")


@pytest.mark.parametrize("seed", range(4))
def test_lines_after_rejected_rows_kept_as_the_skipped_lines(seed):
    """A shard with rejected rows keeps the lines without a row (8 bytes each), not a line per row."""
    rng = np.random.default_rng(seed)
    every = np.arange(2, 2 + int(rng.integers(1, 400)))
    lines = every[rng.random(len(every)) < (0.3, 0.9, 0.99, 0.5)[seed]]
    if seed == 3:
        lines = every[1:]  # the first row rejected
    stats = ShardStats(len(lines), None, {}, np.zeros(0, int), {}, _skipped(lines))
    assert [stats.line(i) for i in range(len(lines))] == lines.tolist()
    assert stats.skipped is None or len(stats.skipped) == len(every[every <= lines[-1]]) - len(lines)
