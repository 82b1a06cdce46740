"""Strict on bad input: every case names file, line and problem; failed runs write nothing;
--skip-bad-rows sets bad rows aside with their reasons."""

from __future__ import annotations

import pytest

from hwpower.errors import InputError
from hwpower.networks import sample_networks, write_networks
from hwpower.processing import load_processed, process

from .rawfiles import NETS, Shape, make_rows, standard_raw, write_raw


def corrupt(raw, name: str, line: int, edit) -> None:
    """Replace line ``line`` (1-based) of ``raw/name`` by ``edit(old_line)``."""
    path = raw / name
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = edit(lines[line - 1])
    path.write_bytes(b"\n".join(lines))


def field(i: int, value: bytes):
    def edit(line: bytes) -> bytes:
        parts = line.split(b" ")
        parts[i] = value
        return b" ".join(parts)
    return edit


# column index in the standard header: 0 pe_rows ... 8 network, 9 P_core, 10 P_bw, 11 P, 12 latency, 13 energy
ROW_CASES = {
    "too_few_columns": (lambda line: line.rsplit(b" ", 1)[0], "expected 14 columns, got 13"),
    "too_many_columns": (lambda line: line + b" 3.5", "expected 14 columns, got 15"),
    "non_numeric_power": (field(9, b"abc"), "'P_core': 'abc' is not a number"),
    "nan_power": (field(10, b"nan"), "'P_bw': 'nan' is not a number \\(NaN\\)"),
    "negative_power": (field(11, b"-0.5"), "'P': negative power"),
    "infinite_latency": (field(12, b"inf"), "'latency_ms'.*not a number"),
    "power_sum_mismatch": (field(11, b"9.75"), "P = 9.75 W disagrees with P_core \\+ P_bw"),
    "unknown_network": (field(8, b"nets_0/99"), "unknown network 'nets_0/99'"),
    "unknown_nets_file": (field(8, b"nets_7/1"), "unknown network 'nets_7/1'"),
    "bad_categorical": (field(6, b"12"), "'bits': .* is not one of \\[8, 16\\]"),
    "non_integer_hardware": (field(0, b"8.5"), "'pe_rows': '8.5' is not an integer"),
    "zero_hardware": (field(4, b"0"), "'dram_gbps': '0' must be positive"),
    "blank_line_inside": (lambda line: b"", "empty line"),
    "non_utf8": (lambda line: line.replace(b"ws", b"w\xff").replace(b"os", b"o\xff"), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(ROW_CASES))
@pytest.mark.parametrize("where", [("train_1.txt", 7), ("val_0.txt", 2)])
def test_bad_row_names_file_line_and_problem(tmp_path, case, where):
    raw = standard_raw(tmp_path / "raw")
    edit, problem = ROW_CASES[case]
    corrupt(raw, *where, edit)
    with pytest.raises(InputError, match=problem) as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / where[0])
    assert info.value.where == f"line {where[1]}"


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_skip_bad_rows_sets_them_aside_with_reasons(tmp_path, case):
    raw = standard_raw(tmp_path / "raw")
    edit, problem = ROW_CASES[case]
    corrupt(raw, "train_1.txt", 7, edit)
    corrupt(raw, "train_1.txt", 12, edit)
    ds = process(raw, tmp_path / "out", skip_bad_rows=True, progress=False)
    assert len(ds.train) == 48 and len(ds.val) == 10
    assert ds.rejects["line"].tolist() == [7, 12]
    assert ds.rejects["file"].tolist() == [str(raw / "train_1.txt")] * 2
    assert ds.rejects["reason"].str.contains(problem).all()
    assert ds.manifest["counts"]["rejects"] == 2
    assert {s["file"]: s.get("rejects") for s in ds.manifest["sources"]}["train_1.txt"] == 2
    back = load_processed(tmp_path / "out")
    assert back.rejects["line"].tolist() == [7, 12]


def test_reject_text_is_the_raw_line(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    corrupt(raw, "train_0.txt", 3, field(11, b"-1"))
    ds = process(raw, skip_bad_rows=True, progress=False)
    line = (raw / "train_0.txt").read_text().splitlines()[2]
    assert ds.rejects["text"].tolist() == [line]


@pytest.mark.parametrize("content, problem, where", [
    (b"", "empty file", None),
    (b"  \n\n", "empty file", None),
    (Shape().text([]).encode(), "no sample rows", "line 1"),
    (b"pe_rows pe_rows network P\n1 2 nets_0/1 3\n", "repeated or empty column names", "line 1"),
])
def test_malformed_or_empty_files(tmp_path, content, problem, where):
    raw = standard_raw(tmp_path / "raw")
    (raw / "train_1.txt").write_bytes(content)
    with pytest.raises(InputError, match=problem) as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / "train_1.txt") and info.value.where == where


def test_val_columns_differing_from_train(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(5, 1)], [], Shape())
    (raw / "val_0.txt").write_text(Shape(extra={"notes": "x"}).text(make_rows(3, 2)))
    with pytest.raises(InputError, match=r"columns differ from train_0.txt: missing \[\], extra \['notes'\]") as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / "val_0.txt") and info.value.where == "line 1"


def test_missing_target_column_in_later_train_shard(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    text = (raw / "train_1.txt").read_text().splitlines()
    (raw / "train_1.txt").write_text("\n".join(" ".join(line.split()[:-1]) for line in text) + "\n")
    with pytest.raises(InputError, match=r"missing \['energy_mj'\]") as info:
        process(raw, progress=False)
    assert info.value.file.endswith("train_1.txt")


def test_duplicate_network_keys_with_different_content(tmp_path):
    """Plain ids resolved across two nets files: the same id naming different networks is ambiguous."""
    raw = standard_raw(tmp_path / "raw", Shape(network="{id}"))
    write_networks(raw / "nets_1.json", sample_networks("ofa-mbv3", 4, seed=99))
    with pytest.raises(InputError, match="duplicate network key 0: nets_0/0 and nets_1/0 differ") as info:
        process(raw, progress=False)
    assert info.value.file == "nets_1.json"


def test_duplicate_network_keys_with_equal_content_are_fine(tmp_path):
    raw = standard_raw(tmp_path / "raw", Shape(network="{id}"))
    write_networks(raw / "nets_1.json", NETS)
    ds = process(raw, progress=False)
    assert set(ds.train["network"].astype(str)) <= {f"nets_0/{i}" for i in NETS}


@pytest.mark.parametrize("content, problem", [
    (b"{\"0\": [", "malformed JSON"),
    (b"", "empty file"),
    (b"{\"0\": {\"blocks\": [{\"type\": \"warp\"}]}}", "unknown block type"),
    (b"{\"0\": {\"blocks\": [{\"type\": \"linear\", \"in_features\": 3, \"out_features\": 2}]}, \"0\": {}}",
     "duplicate"),
    (b"{\"0\": \xff}", "not UTF-8"),
])
def test_bad_nets_files(tmp_path, content, problem):
    raw = standard_raw(tmp_path / "raw")
    (raw / "nets_0.json").write_bytes(content)
    with pytest.raises(InputError, match=problem) as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / "nets_0.json")


def test_failed_run_keeps_previous_output_and_leaves_nothing(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    out = tmp_path / "out"
    good = process(raw, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    corrupt(raw, "val_0.txt", 5, field(11, b"-3"))
    with pytest.raises(InputError):
        process(raw, out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]
    assert len(load_processed(out).train) == len(good.train)
    with pytest.raises(InputError):
        process(raw, tmp_path / "fresh", progress=False)
    assert not (tmp_path / "fresh").exists()


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        process(tmp_path / "nope", progress=False)
    raw = standard_raw(tmp_path / "raw")
    for p in raw.glob("train_*.txt"):
        p.unlink()
    with pytest.raises(InputError, match="no train_"):
        process(raw, progress=False)


# ---- issue 15: byte-order marks, the folder as a whole, --strict --------------------------------

def test_byte_order_mark_is_stripped_from_every_file(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    for path in raw.glob("*.txt"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = process(raw, progress=False)
    assert ds.manifest["columns"]["hardware_numeric"][0] == "pe_rows"
    assert len(ds.train) == 50 and len(ds.val) == 10


def test_strict_refuses_duplicates_with_file_and_line(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    text = (raw / "train_0.txt").read_bytes()
    (raw / "train_0.txt").write_bytes(text + text.split(b"\n")[3] + b"\n")
    assert len(process(raw, progress=False).train) == 51  # a warning only
    with pytest.raises(InputError, match="1 duplicate train rows; the first repeats train_0.txt line 4") as info:
        process(raw, tmp_path / "out", progress=False, strict=True)
    assert info.value.file == str(raw / "train_0.txt") and info.value.where == "line 32"
    assert not (tmp_path / "out").exists()


def test_no_validation_rows_is_an_error_unless_allowed(tmp_path):
    raw = write_raw(tmp_path / "raw", [make_rows(5, 1)], [])
    with pytest.raises(InputError, match="no val_\\*.txt files") as info:
        process(raw, progress=False)
    assert info.value.file == str(raw)
    assert len(process(raw, progress=False, require_val=False).val) == 0


def test_manifest_row_count_and_cut_last_line(tmp_path):
    import hashlib
    import json

    raw = standard_raw(tmp_path / "raw")
    files = {p.name: {"rows": len(p.read_text().splitlines()) - 1, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in raw.glob("*.txt")}
    (raw / "manifest.json").write_text(json.dumps({"files": files}))
    assert len(process(raw, progress=False).train) == 50
    (raw / "val_0.txt").write_bytes((raw / "val_0.txt").read_bytes()[:-3])  # inside the last number
    with pytest.raises(InputError, match="no newline and the file differs") as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / "val_0.txt") and info.value.where == "line 11"
    files["train_1.txt"]["rows"] = 21
    (raw / "manifest.json").write_text(json.dumps({"files": files}))
    with pytest.raises(InputError, match="20 rows, but manifest.json lists 21") as info:
        process(raw, progress=False)
    assert info.value.file == str(raw / "train_1.txt")


def test_duplicate_lines_are_counted_past_rejected_rows(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    corrupt(raw, "train_0.txt", 3, lambda line: b"garbage")
    text = (raw / "train_0.txt").read_bytes()
    (raw / "train_0.txt").write_bytes(text + text.split(b"\n")[9] + b"\n")
    with pytest.raises(InputError, match="1 duplicate train rows; the first repeats train_0.txt line 10") as info:
        process(raw, progress=False, skip_bad_rows=True, strict=True)
    assert info.value.where == "line 32"
