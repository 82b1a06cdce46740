"""Every ``hwpower ...`` command line printed in README.md (its command table and code blocks) runs as
written and exits with 0, in the table's order, with the placeholders made real in a tmp folder:
RAW (the generated raw data), PROCESSED, RUN (one tiny run: 1 epoch, hidden 8; RUN2 a new one, SMALL_PROCESSED the same data), FILE / NETS_FILE
(the first ``nets_*.json`` of examples/data/raw; a measurements table after ``--measurements``), N (3), DIR (a new
folder per command), MEASUREMENTS.csv (``builtin``, the published chip points), ROWS.csv (20 rows of the
processed validation split, targets dropped) and PREDICTIONS.csv (a new file). Optional ``[...]`` parts are left out; ``...`` stands for "the rest": ``--hw
...`` gets a configuration, a bare trailing ``...`` (the experiments) becomes ``--help``."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from hwpower.cli import app, common

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RAW = ROOT / "examples" / "data" / "raw"
HW = "pe_rows=16,pe_cols=16,rf_bytes=64,glb_kib=256,dram_gbps=8,freq_mhz=500,bits=8,dataflow=ws"
TINY_TRAIN = ["--epochs", "1", "--hidden", "8", "--threads", "1", "--quiet"]


def readme_commands(text: str) -> list[str]:
    """``hwpower`` command lines of the command table (backticked) and of fenced code blocks."""
    out: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code and line.strip().startswith("hwpower "):
            out.append(line.strip().split("  #")[0])
        elif not in_code and line.startswith("|"):
            out += [m for m in re.findall(r"`(hwpower [^`]*)`", line)]
    return out


def _args(command: str, paths: dict[str, Path], dirs: list[int]) -> list[str]:
    command = re.sub(r"\s*\[[^\]]*\]", "", command.replace("\\|", "|"))
    command = command.replace("--hw ...", f"--hw {HW}").replace(" ...", " --help")
    words = shlex.split(command)[1:]
    args = []
    for i, word in enumerate(words):
        prev = words[i - 1] if i else ""
        if word == "FILE":
            word = str(paths["meas"] if prev == "--measurements" else paths["nets"])
        elif word == "DIR":
            dirs[0] += 1
            word = str(paths["tmp"] / f"out{dirs[0]}")
        elif word == "MEASUREMENTS.csv":  # calibrate --fit: the built-in published chip points stand in
            word = "builtin"
        elif word == "N":
            word = "3"
        elif word in ("ROWS.csv", "PREDICTIONS.csv"):  # predict --input: rows of the processed validation split
            word = str(paths["tmp"] / word.lower())
        elif word.isupper() and word in paths:
            word = str(paths[word])
        args.append(word)
    if words[:1] == ["train"]:
        args += TINY_TRAIN
    return args


def test_readme_parser_finds_the_command_table():
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    firsts = {c.split()[1] for c in commands}
    assert {"nets", "oracle", "generate", "process", "train", "evaluate", "recover", "identify", "design",
            "stats", "report"} <= firsts


def _write_rows(paths: dict[str, Path]) -> None:
    """ROWS.csv: hardware rows and network keys of the processed validation split (no targets)."""
    from hwpower.processing import load_processed

    ds = load_processed(paths["PROCESSED"])
    ds.val.head(20).drop(columns=list(ds.targets)).to_csv(paths["tmp"] / "rows.csv", index=False)


def test_every_readme_command_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.chdir(tmp_path)
    meas = tmp_path / "meas.csv"
    meas.write_text("network,P\n3,0.5\n9,0.6\n", encoding="utf-8")
    nets = sorted(EXAMPLE_RAW.glob("nets_*.json"))[0]
    paths = {"RAW": tmp_path / "raw", "PROCESSED": tmp_path / "processed", "RUN": tmp_path / "run",
             "NETS_FILE": nets, "nets": nets, "meas": meas, "tmp": tmp_path,
             "SMALL_PROCESSED": tmp_path / "processed", "RUN2": tmp_path / "run2"}
    dirs = [0]
    runner = CliRunner()
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    for command in commands:
        args = _args(command, paths, dirs)
        if "ROWS.csv" in command:
            _write_rows(paths)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"README command {command!r} (run as {args}) failed:\n{result.output}"
    # the Pareto design's files beside --out (JSON, Parquet front, PNG figure)
    out = tmp_path / "front.json"
    result = runner.invoke(app, ["design", str(paths["RUN"]), "--nets", str(paths["nets"]), "--id", "3", "--objectives",
                                 "P,area_mm2", "--budget", "60", "--verify", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd
    front = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(front) > 0 and {"oracle_P", "oracle_area_mm2", "knee"} <= set(front.columns)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
