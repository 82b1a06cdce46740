"""End to end through the command line, and on `hwpower generate` output."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.processing import load_processed, process

from .rawfiles import standard_raw

runner = CliRunner()


def test_cli_process_writes_dataset_and_prints_summary(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    result = runner.invoke(app, ["process", str(raw), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "schema inferred from the header" in result.output
    assert "networks only in val" in result.output and "rejected rows" in result.output
    ds = load_processed(tmp_path / "out")
    assert len(ds.train) == 50 and len(ds.val) == 10 and ds.manifest["counts"]["networks"] == 4
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "train.parquet", "val.parquet", "networks.parquet", "network_blocks.parquet", "unique_blocks.parquet",
        "unique_layers.parquet", "network_ops.parquet", "unique_ops.parquet", "rejects.parquet", "manifest.json"}


def test_cli_bad_row_exits_2_naming_file_and_line(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    path = raw / "train_0.txt"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("nets_0/", "nets_0/7")
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["process", str(raw), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 2
    assert "train_0.txt: line 4: unknown network" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["process", str(raw), "--out", str(tmp_path / "out"), "--no-progress",
                                 "--skip-bad-rows"])
    assert result.exit_code == 0, result.output
    assert "1 rejected rows" in " ".join(result.output.split())
    rejects = pd.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert rejects["line"].tolist() == [4]


def test_cli_schema_option(tmp_path):
    raw = standard_raw(tmp_path / "raw")
    schema = tmp_path / "s.toml"
    schema.write_text("[hardware.numeric]\npe_rows = { unit = 'PEs', dtype = 'int' }\n"
                      "[targets]\nP = { unit = 'W' }\n")
    result = runner.invoke(app, ["process", str(raw), "--out", str(tmp_path / "out"), "--schema", str(schema),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    ds = load_processed(tmp_path / "out")
    assert list(ds.train.columns) == ["pe_rows", "network", "P"] and ds.hardware_categorical == {}


def test_generate_output_processes(tmp_path):
    generate = pytest.importorskip("hwpower.generate")
    config = generate.GenerateConfig(networks=6, train_rows=300, val_rows=80, seed=3, shards=2)
    generate.generate(tmp_path / "raw", config)
    ds = process(tmp_path / "raw", tmp_path / "out", progress=False)
    assert len(ds.train) == 300 and len(ds.val) == 80 and len(ds.rejects) == 0
    assert ds.manifest["raw_manifest"]["seed"] == 3
    held_out = set(ds.manifest["raw_manifest"]["heldout_networks"])
    assert set(ds.val["network"].astype(str)) - set(ds.train["network"].astype(str)) <= held_out
    assert ds.manifest["counts"]["networks_only_in_val"] >= 1


def test_cli_starts_without_loading_the_libraries():
    """`hwpower --help` must start fast: command modules import their libraries inside the commands."""
    import subprocess
    import sys

    heavy = ["numpy", "pandas", "pyarrow", "scipy", "torch", "ray", "matplotlib", "hwpower.oracle",
             "hwpower.networks", "hwpower.processing", "hwpower.generate"]
    code = f"import sys, hwpower.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
