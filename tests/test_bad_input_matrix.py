"""Bad input through the command line (issue 15): every case exits 2 with one line naming the file,
line or option and the problem (or, for what is only suspicious, exits 0 with a warning naming it),
never a traceback, and changes nothing outside its output (checksums of every input before and after).

Templates, made once per module and copied per case: ``gen`` (a small ``hwpower generate`` folder
with its manifest), ``hand`` (hand-written shards without manifest, tests/processing/rawfiles.py),
``world`` (a processed dataset and a tiny trained run).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import InputError
from processing.rawfiles import make_rows, standard_raw

runner = CliRunner()
HW = "pe_rows=16,pe_cols=16,rf_bytes=64,glb_kib=256,dram_gbps=8,freq_mhz=500,bits=8,dataflow=ws"
HUGE = {"input_resolution": 8, "blocks": [{"type": "conv", "in_channels": 3, "out_channels": 10**9, "kernel": 1,
                                           "input_size": 8}]}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("templates")
    gen = ["--networks", "4", "--train-rows", "200", "--val-rows", "60", "--shards", "2", "--no-reference", "--seed", "1",
           "--spaces", "ofa-mbv3"]  # one block space: nets_0.json, as the cases name it
    assert invoke("generate", "--out", base / "gen", *gen).exit_code == 0
    standard_raw(base / "hand")
    world = base / "world"
    assert invoke("process", base / "gen", "--out", world / "processed", "--no-progress").exit_code == 0
    shutil.copytree(base / "gen", world / "raw")
    trained = invoke("train", world / "processed", "--out", world / "run", "--epochs", "2", "--hidden", "8", "--depth",
                     "1", "--threads", "1", "--device", "cpu", "--quiet")
    assert trained.exit_code == 0, trained.output
    return {"gen": base / "gen", "hand": base / "hand", "world": world}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---- mutations of a copied template (``d`` is the copy) -----------------------------------------

def lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def edit_line(name: str, line: int, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        parts = lines(d / name)
        parts[line - 1] = edit(parts[line - 1])
        (d / name).write_bytes(b"\n".join(parts))
    return mutate


def field(i: int, value: bytes) -> Callable[[bytes], bytes]:
    return lambda line: b" ".join(value if j == i else f for j, f in enumerate(line.split(b" ")))


def write(name: str, data: bytes | str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def remove(*names: str) -> Callable[[Path], None]:
    return lambda d: [(d / n).unlink() for n in names]


def gzip_shard(name: str, keep: bool = False) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        (d / f"{name}.gz").write_bytes(gzip.compress((d / name).read_bytes()))
        if not keep:
            (d / name).unlink()
    return mutate


def rename(a: str, b: str) -> Callable[[Path], None]:
    return lambda d: (d / a).rename(d / b)


def cut_end(name: str, n: int) -> Callable[[Path], None]:
    """Cut the file ``n`` bytes before its end, inside the last number (no newline left)."""
    return lambda d: (d / name).write_bytes((d / name).read_bytes().rstrip(b"\n")[:-n or None])


def append(name: str, line: int) -> Callable[[Path], None]:
    """Append a copy of line ``line`` of ``name`` to it (a duplicate row)."""
    return lambda d: (d / name).write_bytes((d / name).read_bytes() + lines(d / name)[line - 1] + b"\n")


def copy_line(src: str, line: int, dst: str) -> Callable[[Path], None]:
    return lambda d: (d / dst).write_bytes((d / dst).read_bytes() + lines(d / src)[line - 1] + b"\n")


def add_network(d: Path) -> None:
    nets = json.loads((d / "nets_0.json").read_text())
    (d / "nets_0.json").write_text(json.dumps({**nets, "9": HUGE}))


def manifest(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        data = json.loads((d / "manifest.json").read_text())
        edit(data)
        (d / "manifest.json").write_text(json.dumps(data))
    return mutate


def all_val_bad(d: Path) -> None:
    text = lines(d / "val_0.txt")
    (d / "val_0.txt").write_bytes(b"\n".join([text[0]] + [field(11, b"-1")(t) if t else t for t in text[1:]]))


def nothing(d: Path) -> None:
    return None


# ---- the cases: (template, mutation, command line, exit code, patterns the output must match) ----
# In command lines ``{d}`` is the copied template, ``{out}`` the output path (absent before).
P = ["process", "{d}", "--out", "{out}", "--no-progress"]
PS = [*P, "--strict"]
ROWS = {  # the row checks of docs/data-format.md, through the command line
    "too_few_columns": (lambda line: line.rsplit(b" ", 1)[0], "expected 14 columns, got 13"),
    "too_many_columns": (lambda line: line + b" 3.5", "expected 14 columns, got 15"),
    "non_numeric_power": (field(9, b"abc"), "'P_core': 'abc' is not a number"),
    "nan_power": (field(10, b"nan"), r"'P_bw': 'nan' is not a number \(NaN\)"),
    "negative_power": (field(11, b"-0.5"), "'P': negative power"),
    "infinite_latency": (field(12, b"inf"), "'latency_ms'.*not a number"),
    "power_sum": (field(11, b"9.75"), r"P = 9.75 W disagrees with P_core \+ P_bw"),
    "energy_product": (field(13, b"999"), "energy_mj = 999 mJ disagrees with P x latency_ms"),
    "unknown_network": (field(8, b"nets_0/99"), "unknown network 'nets_0/99'"),
    "network_pattern": (field(8, b"resnet-7"), "network 'resnet-7' does not match the pattern"),
    "bad_categorical": (field(6, b"12"), r"'bits': .* is not one of \[8, 16\]"),
    "bad_dataflow": (field(7, b"xy"), r"'dataflow': 'xy' is not one of"),
    "non_integer": (field(0, b"8.5"), "'pe_rows': '8.5' is not an integer"),
    "zero_hardware": (field(4, b"0"), "'dram_gbps': '0' must be positive"),
    "negative_hardware": (field(1, b"-8"), "'pe_cols': '-8' must be positive"),
    "blank_line": (lambda line: b"", "empty line"),
    "non_utf8": (lambda line: line.replace(b"nets_0", b"nets\xff0"), "not UTF-8"),
}
CASES: dict[str, tuple] = {
    **{f"row_{k}": ("hand", edit_line("train_1.txt", 7, e), P, 2, [rf"train_1.txt: line 7: .*{m}"])
       for k, (e, m) in ROWS.items()},
    # files
    "empty_file": ("hand", write("train_1.txt", b""), P, 2, ["train_1.txt: empty file"]),
    "header_only": ("hand", lambda d: (d / "val_0.txt").write_bytes(lines(d / "val_0.txt")[0] + b"\n"), P, 2,
                    ["val_0.txt: line 1: no sample rows"]),
    "repeated_header": ("hand", edit_line("train_0.txt", 1, lambda h: h.replace(b"pe_cols", b"pe_rows")), P, 2,
                        [r"train_0.txt: line 1: header has repeated or empty column names \['pe_rows'\]"]),
    "val_columns_differ": ("hand", edit_line("val_0.txt", 1, lambda h: h.replace(b"energy_mj", b"notes")), P, 2,
                           [r"val_0.txt: line 1: columns differ from train_0.txt: missing \['energy_mj'\]"]),
    "no_network_column": ("hand", edit_line("train_0.txt", 1, lambda h: h.replace(b"network", b"model")), P, 2,
                          ["train_0.txt: line 1: no 'network' column"]),
    "bom_then_bad_row": ("hand", lambda d: (edit_line("val_0.txt", 3, field(9, b"x"))(d), write(
        "val_0.txt", b"\xef\xbb\xbf" + (d / "val_0.txt").read_bytes())(d)), P, 2,
        ["val_0.txt: line 3: column 'P_core': 'x' is not a number"]),  # the BOM file named, the line right
    # folder
    "raw_missing": ("hand", nothing, ["process", "{d}/nope", "--out", "{out}"], 2, ["nope: not a folder"]),
    "no_nets": ("hand", remove("nets_0.json"), P, 2, [r"no nets_\*.json files"]),
    "no_train": ("hand", remove("train_0.txt", "train_1.txt"), P, 2, [r"no train_\*.txt files"]),
    "no_val": ("hand", remove("val_0.txt"), P, 2, [r"no val_\*.txt files: validation rows are needed"]),
    "all_val_rejected": ("hand", all_val_bad, [*P, "--skip-bad-rows"], 2,
                         ["val_0.txt: no validation rows left: every row of the val_.*rejected"]),
    "gz_shard_hand": ("hand", gzip_shard("train_1.txt"), P, 2, ["train_1.txt.gz: compressed shard.*decompress"]),
    # nets files
    "nets_malformed": ("hand", write("nets_0.json", '{"0": ['), P, 2, ["nets_0.json.*malformed JSON"]),
    "nets_empty": ("hand", write("nets_0.json", ""), P, 2, ["nets_0.json.*empty file"]),
    "nets_unknown_block": ("hand", write("nets_0.json", '{"0": {"blocks": [{"type": "warp"}]}}'), P, 2,
                           ["nets_0.json.*unknown block type"]),
    "nets_bom": ("hand", lambda d: write("nets_0.json", b"\xef\xbb\xbf" + (d / "nets_0.json").read_bytes())(d), P, 2,
                 ["nets_0.json: line 1 column 1: malformed JSON: Unexpected UTF-8 BOM"]),  # refused, by name
    "nets_not_utf8": ("hand", write("nets_0.json", b'{"0": \xff}'), P, 2, ["nets_0.json.*not UTF-8"]),
    "nets_duplicate_id": ("hand", write("nets_0.json", '{"0": {"blocks": [{"type": "linear", "in_features": 3, '
                                                                   '"out_features": 2}]}, "0": {}}'), P, 2,
                          ["nets_0.json.*duplicate"]),
    # schema file
    "schema_missing": ("hand", nothing, [*P, "--schema", "{d}/none.toml"], 2, ["none.toml: cannot read schema"]),
    "schema_malformed": ("hand", write("s.toml", "separator = "), [*P, "--schema", "{d}/s.toml"], 2,
                         ["s.toml: malformed TOML"]),
    "schema_unknown_key": ("hand", write("s.toml", 'colour = "red"\n'), [*P, "--schema", "{d}/s.toml"], 2,
                           [r"s.toml: invalid schema: unknown key\(s\) \['colour'\]"]),
    # suspicious: warnings, errors under --strict
    "duplicate_rows": ("hand", append("train_1.txt", 5), PS, 2,
                       ["train_1.txt: line 22: 1 duplicate train rows; the first repeats train_1.txt line 5"]),
    "val_copied_into_train": ("hand", copy_line("val_0.txt", 4, "train_0.txt"), PS, 2,
                              ["val_0.txt: line 4: 1 validation rows repeat training rows.*train_0.txt line 32"]),
    "implausible_hardware": ("hand", edit_line("train_0.txt", 9, field(0, b"100000")), PS, 2,
                             [r"train_0.txt: line 9: pe_rows=100000 is outside the plausible range \[1, 4096\]"]),
    "implausible_network": ("hand", add_network, PS, 2,
                            ["network nets_0/9: a tensor dimension of 1,000,000,000"]),
    "no_final_newline": ("hand", cut_end("train_1.txt", 0), PS, 2, ["train_1.txt: line 21: the last line has no newline"]),
    "shard_not_txt": ("hand", write("train_2.csv", "a,b\n"), PS, 2, ["train_2.csv: named like a shard but not read"]),
    # against the generator's manifest
    "missing_train_shard": ("gen", remove("train_1.txt"), P, 2, [r"train_1.txt: shard listed in manifest.json \(100 "
                                                                  "rows\\) is missing"]),
    "missing_val_shard": ("gen", remove("val_0.txt"), P, 2, ["val_0.txt: shard listed in manifest.json"]),
    "gz_shard": ("gen", gzip_shard("train_1.txt"), P, 2, ["train_1.txt.gz: compressed shard"]),
    "gz_beside_txt": ("gen", gzip_shard("val_1.txt", keep=True), P, 2, ["val_1.txt.gz: compressed shard"]),
    "zst_shard": ("gen", rename("val_1.txt", "val_1.txt.zst"), P, 2, ["val_1.txt.zst: compressed shard"]),
    "row_dropped": ("gen", lambda d: (d / "train_0.txt").write_bytes(b"\n".join(lines(d / "train_0.txt")[:-2]) + b"\n"),
                    P, 2, ["train_0.txt: 99 rows, but manifest.json lists 100"]),
    "row_added": ("gen", append("val_1.txt", 3), P, 2, ["val_1.txt: 31 rows, but manifest.json lists 30"]),
    "cut_in_last_number": ("gen", cut_end("train_1.txt", 2), P, 2,
                           ["train_1.txt: line 101: the last line has no newline and the file differs.*cut short"]),
    "raw_manifest_malformed": ("gen", write("manifest.json", "{"), P, 2, ["manifest.json: line 1 column 2: malformed JSON"]),
    "raw_manifest_files": ("gen", manifest(lambda m: m.update(files=[1])), P, 2, ["manifest.json: files: 'files' must map"]),
    "shard_edited_strict": ("gen", edit_line("train_0.txt", 5, field(1, b"8")), PS, 2,
                            ["train_0.txt: differs from the file manifest.json lists"]),
    # processed dataset and run folder
    "processed_manifest_damaged": ("world", write("processed/manifest.json", "{"),
                                   ["train", "{d}/processed", "--out", "{out}", "--quiet"], 2,
                                   ["processed/manifest.json: line 1 column 2: malformed JSON"]),
    "processed_missing": ("world", nothing, ["train", "{d}/nope", "--out", "{out}"], 2, ["nope: no manifest.json"]),
    "parquet_damaged": ("world", write("processed/val.parquet", "garbage"), ["evaluate", "{d}/run", "{d}/processed",
                                                                             "--out", "{out}"], 2,
                        ["val.parquet: cannot read Parquet"]),
    "checkpoint_meta_damaged": ("world", write("run/best/meta.json", "{"),
                                ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0", "--hw", HW], 2,
                                ["meta.json: corrupt checkpoint metadata"]),
    "checkpoint_weights_damaged": ("world", write("run/best/model.safetensors", "x"),
                                   ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0", "--hw", HW], 2,
                                   ["model.safetensors: corrupt weights"]),
    "checkpoint_weights_missing": ("world", remove("run/best/model.safetensors"),
                                   ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0", "--hw", HW], 2,
                                   ["model.safetensors: missing weights"]),
    "resume_other_options": ("world", nothing, ["train", "{d}/processed", "--out", "{d}/run", "--resume", "--epochs",
                                                "5", "--lr", "0.5", "--quiet"], 2,
                             [r"--resume .* these options differ: --epochs 5 \(the run has 2\); --lr 0.5 \(the run has "
                              r"0.002\)"]),
    "resume_gbt": ("world", nothing, ["train", "{d}/processed", "--out", "{d}/run", "--resume", "--model", "gbt"], 2,
                   [r"options differ: --model gbt \(the run has structured\)"]),
    "predict_no_hw": ("world", nothing, ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0"], 2,
                      ["give --nets FILE --id N --hw"]),
    "predict_bad_id": ("world", nothing, ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "99", "--hw",
                                          HW], 2, ["--id: no network with id 99"]),
    "predict_bad_hw": ("world", nothing, ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0", "--hw",
                                          "pe_rows"], 2, ["--hw: expected name=value, got 'pe_rows'"]),
    "train_out_is_file": ("world", write("afile", "x"), ["train", "{d}/processed", "--out", "{d}/afile"], 2, ["afile"]),
    "process_out_is_file": ("world", write("afile", "x"), ["process", "{d}/raw", "--out", "{d}/afile"], 2, ["afile"]),
    "process_out_under_file": ("world", write("afile", "x"), ["process", "{d}/raw", "--out", "{d}/afile/sub"], 2,
                               ["afile"]),
    # oracle
    "oracle_missing_hw": ("hand", nothing, ["oracle", "{d}/nets_0.json", "--id", "0", "--hw", "pe_rows=4"], 2,
                          ["--hw: missing hardware parameter"]),
    "oracle_hw_not_number": ("hand", nothing, ["oracle", "{d}/nets_0.json", "--id", "0", "--hw",
                                               HW.replace("=16,pe_cols", "=abc,pe_cols")], 2,
                             ["--hw: pe_rows='abc' is not a number"]),
    "oracle_bad_id": ("hand", nothing, ["oracle", "{d}/nets_0.json", "--id", "99", "--hw", HW], 2,
                      ["nets_0.json: no network with id 99"]),
    "oracle_nets_malformed": ("hand", write("nets_0.json", "{"), ["oracle", "{d}/nets_0.json", "--id", "0", "--hw", HW],
                              2, ["nets_0.json.*malformed JSON"]),
}
# Accepted with a warning naming the value: exit 0.
WARNED: dict[str, tuple] = {
    "duplicate_rows_warn": ("hand", append("train_1.txt", 5), P, 0,
                            ["warning: .*train_1.txt: line 22: 1 duplicate train rows"]),
    "overlap_warn": ("hand", copy_line("val_0.txt", 4, "train_0.txt"), P, 0, ["warning: .*1 validation rows repeat"]),
    "hardware_warn": ("hand", edit_line("train_0.txt", 9, field(0, b"100000")), P, 0,
                      [r"warning: .*pe_rows=100000 is outside the plausible range \[1, 4096\]"]),
    "no_final_newline_warn": ("hand", cut_end("val_0.txt", 0), P, 0, ["warning: .*val_0.txt: line 11: the last line"]),
    "oracle_hw_warn": ("hand", nothing, ["oracle", "{d}/nets_0.json", "--id", "0", "--no-layers", "--hw",
                                         HW.replace("pe_rows=16", "pe_rows=100000")], 0,
                       [r"warning: pe_rows=100000 \(--hw\) is outside the plausible range \[1, 4096\]"]),
    "oracle_network_warn": ("hand", add_network, ["oracle", "{d}/nets_0.json", "--id", "9", "--no-layers", "--hw", HW],
                            0, ["warning: network nets_0.json id 9: a tensor dimension of 1,000,000,000"]),
    "predict_hw_warn": ("world", nothing, ["predict", "{d}/run", "--nets", "{d}/raw/nets_0.json", "--id", "0", "--hw",
                                           HW.replace("glb_kib=256", "glb_kib=9999999")], 0,
                        [r"warning: glb_kib=1e\+07 \(--hw\) is outside the plausible range"]),
}


def run_case(tmp_path: Path, templates: dict[str, Path], case: tuple):
    template, mutate, argv, code, patterns = case
    d, out = tmp_path / "in", tmp_path / "out"
    shutil.copytree(templates[template], d)
    mutate(d)
    before = snapshot(d)
    result = invoke(*[a.format(d=d, out=out) for a in argv])
    text = result.output
    assert result.exit_code == code, text
    assert "Traceback" not in text and (result.exception is None or isinstance(result.exception, SystemExit)), text
    for pattern in patterns:
        assert re.search(pattern, text), f"{pattern!r} not in {text!r}"
    if code:
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, text
        assert not out.exists()
    assert snapshot(d) == before  # nothing outside the output changed
    return result


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_with_one_line(tmp_path, templates, name):
    run_case(tmp_path, templates, CASES[name])


@pytest.mark.parametrize("name", sorted(WARNED))
def test_accepted_with_a_warning(tmp_path, templates, name):
    run_case(tmp_path, templates, WARNED[name])


def test_bom_is_stripped_and_every_column_kept(tmp_path, templates):
    """A byte-order mark at the start of every raw file (and the manifest) changes nothing."""
    d = tmp_path / "in"
    shutil.copytree(templates["gen"], d)
    for path in [*d.glob("*.txt"), d / "manifest.json"]:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = invoke("process", d, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    processed = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert processed["columns"]["hardware_numeric"][:2] == ["pe_rows", "pe_cols"]
    assert processed["counts"]["train_rows"] == 200 and processed["counts"]["val_rows"] == 60
    assert "train_0.txt: differs from the file manifest.json lists" in result.output  # the BOM is a change


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_incomplete_run_is_named(tmp_path, templates, command):
    d = tmp_path / "in"
    shutil.copytree(templates["world"], d)
    marker = d / "run" / ".hwpower-output.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "complete": False}))
    before = snapshot(d)
    argv = (["predict", d / "run", "--nets", d / "raw" / "nets_0.json", "--id", "0", "--hw", HW] if command == "predict"
            else ["evaluate", d / "run", d / "processed", "--out", tmp_path / "out"])
    result = invoke(*argv)
    assert result.exit_code == 0, result.output
    assert f"warning: run {d / 'run'} is incomplete (killed at epoch 2 of 2)" in result.output
    assert snapshot(d) == before


def test_complete_run_is_marked(templates):
    marker = json.loads((templates["world"] / "run" / ".hwpower-output.json").read_text())
    assert marker["complete"] is True


def test_debug_shows_the_error_itself(tmp_path, templates):
    d = tmp_path / "in"
    shutil.copytree(templates["hand"], d)
    (d / "val_0.txt").unlink()
    result = invoke("--debug", "process", d, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 1 and isinstance(result.exception, InputError)
    assert "no val_*.txt files" in str(result.exception)


def test_rows_fixture_is_what_the_cases_assume(templates):
    """Line numbers above: hand train_0 has 30 rows, train_1 20, val_0 10; gen shards 100 and 30 rows."""
    assert len(make_rows(30, 1)) == 30
    counts = {p.name: len(lines(p)) - 2 for p in templates["hand"].glob("*.txt")}
    assert counts == {"train_0.txt": 30, "train_1.txt": 20, "val_0.txt": 10}
    listed = json.loads((templates["gen"] / "manifest.json").read_text())["files"]
    assert {k: v["rows"] for k, v in listed.items()} == {"train_0.txt": 100, "train_1.txt": 100,
                                                           "val_0.txt": 30, "val_1.txt": 30}
