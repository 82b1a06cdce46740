"""End to end through the CLI: train the three models, predict one and many, evaluate, experiments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.networks import write_networks

runner = CliRunner()
HW = "pe_rows=16,pe_cols=16,glb_kib=128,dram_gbps=8,freq_mhz=400,bits=8,dataflow=ws"


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tiny_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    common = ["--epochs", "4", "--batch-size", "256", "--device", "cpu", "--threads", "1", "--quiet"]
    run("train", str(tiny_dir), "--out", str(base / "structured"), "--hidden", "16", *common)
    run("train", str(tiny_dir), "--out", str(base / "mlp"), "--model", "mlp", "--targets", "P", *common)
    run("train", str(tiny_dir), "--out", str(base / "gbt"), "--model", "gbt", "--targets", "P_core,P_bw", "--trees", "100",
        "--threads", "1", "--quiet")
    return base


@pytest.fixture(scope="module")
def nets_file(tiny_ds, tmp_path_factory):
    from hwpower.networks import Network

    path = tmp_path_factory.mktemp("nets") / "nets_0.json"
    defs = tiny_ds.networks.set_index("net_id")["definition"]
    write_networks(path, {int(i): Network.from_dict(json.loads(d)) for i, d in defs.items()})
    return path


@pytest.mark.parametrize("name", ["structured", "mlp", "gbt"])
def test_train_writes_a_complete_run(runs, name):
    folder = runs / name
    assert (folder / "best" / "meta.json").is_file() and (folder / "parity.png").is_file()
    ev = json.loads((folder / "evaluation.json").read_text())
    assert set(ev["splits"]) == {"unseen_hardware", "unseen_networks"}
    assert ev["splits"]["unseen_networks"]["P"]["n"] == 200
    if name != "gbt":
        assert (folder / "curves.png").is_file() and (folder / "last" / "train_state.pt").is_file()


def test_predict_single(runs, nets_file, tiny_ds):
    out = run("predict", str(runs / "structured"), "--nets", str(nets_file), "--id", "3", "--hw", HW)
    values = {k: v.split()[0] for k, v in (line.split(" = ") for line in out.strip().splitlines())}
    assert set(values) == {"P", "P_core", "P_bw", "latency_ms"}
    assert float(values["P"]) == pytest.approx(float(values["P_core"]) + float(values["P_bw"]), rel=1e-4)
    assert 0.01 < float(values["P"]) < 5  # watts on this fixture


def test_predict_batch_matches_single(runs, nets_file, tiny_ds, tmp_path):
    rows = tiny_ds.val.head(20).copy()
    rows.to_csv(tmp_path / "in.csv", index=False)
    run("predict", str(runs / "gbt"), "--input", str(tmp_path / "in.csv"), "--nets", str(nets_file),
        "--out", str(tmp_path / "out.parquet"))
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 20 and {"P_pred", "P_core_pred", "P_bw_pred", "P"} <= set(out.columns)
    first = rows.iloc[0]
    hw = ",".join(f"{c}={first[c]}" for c in ("pe_rows", "pe_cols", "glb_kib", "dram_gbps", "freq_mhz", "bits", "dataflow"))
    single = run("predict", str(runs / "gbt"), "--nets", str(nets_file), "--id", first["network"].split("/")[1], "--hw", hw)
    assert float(single.split("P = ")[1].split()[0]) == pytest.approx(out["P_pred"].iloc[0], rel=1e-4)


def test_predict_batch_compiled_matches_eager(runs, nets_file, tiny_ds, tmp_path):
    """``--compile`` (torch.compile) gives the eager predictions; the GBT model accepts and ignores it."""
    tiny_ds.val.head(30).to_csv(tmp_path / "in.csv", index=False)
    outs = {}
    for model, extra in (("structured", []), ("structured", ["--compile"]), ("gbt", ["--compile"])):
        target = tmp_path / f"{model}{len(extra)}.parquet"
        run("predict", str(runs / model), "--input", str(tmp_path / "in.csv"), "--nets", str(nets_file),
            "--out", str(target), *extra)
        outs[(model, bool(extra))] = pd.read_parquet(target)
    eager, compiled = outs[("structured", False)], outs[("structured", True)]
    np.testing.assert_allclose(compiled["P_pred"], eager["P_pred"], rtol=1e-5)
    assert len(outs[("gbt", True)]) == 30


def test_predict_bad_input_is_named(runs, nets_file):
    out = run("predict", str(runs / "structured"), "--nets", str(nets_file), "--id", "3", "--hw", HW + ",sram=3", code=2)
    assert "unknown hardware parameter(s) ['sram']" in out
    out = run("predict", str(runs / "structured"), "--nets", str(nets_file), "--id", "3",
              "--hw", HW.replace("pe_rows=16", "pe_rows=256"), "--strict", code=2)
    assert "pe_rows=256 is outside the trained range [8, 32]" in out
    out = run("predict", str(runs / "structured"), "--nets", str(nets_file), "--id", "999", "--hw", HW, code=2)
    assert "no network with id 999" in out
    out = run("predict", str(runs / "nowhere"), "--nets", str(nets_file), "--id", "3", "--hw", HW, code=2)
    assert "no checkpoint" in out


def test_evaluate_command(runs, tiny_dir, tmp_path):
    out = run("evaluate", str(runs / "mlp"), str(tiny_dir), "--out", str(tmp_path))
    assert "MAPE" in out
    ev = json.loads((tmp_path / "evaluation.json").read_text())
    assert ev["model"] == "mlp" and len(ev["worst"]["unseen_networks"]) == 10
    assert "Evaluation of the mlp model" in (tmp_path / "evaluation.txt").read_text()
    per_net = pd.read_parquet(tmp_path / "per_network.parquet")
    assert set(per_net["split"]) == {"unseen_hardware", "unseen_networks"}


def test_evaluate_updates_a_runs_own_evaluation_but_not_a_foreign_file(runs, tiny_dir, tmp_path):
    before = (runs / "mlp" / "evaluation.json").read_text()
    out = run("evaluate", str(runs / "mlp"), str(tiny_dir))  # right after train, as the README has it
    assert "MAPE" in out and json.loads(before)["model"] == "mlp"
    (tmp_path / "evaluation.json").write_text("mine")
    out = run("evaluate", str(runs / "mlp"), str(tiny_dir), "--out", str(tmp_path), code=2)
    assert "--force" in out and (tmp_path / "evaluation.json").read_text() == "mine"


def test_experiments(tiny_dir, tmp_path):
    run("experiment", "sizes", str(tiny_dir), "--out", str(tmp_path), "-n", "2", "--epochs", "2", "--quiet")
    sizes = pd.read_parquet(tmp_path / "sizes.parquet")
    assert len(sizes) == 2 and sizes["n_parameters"].is_monotonic_increasing and (tmp_path / "sizes.png").is_file()
    out = run("experiment", "data", str(tiny_dir), "--out", str(tmp_path), "--fractions", "0.25,1", "--epochs", "2", "--quiet")
    data = pd.read_parquet(tmp_path / "data.parquet")
    assert list(data["train_rows"]) == [300, 1200]
    assert "doubling the data cuts the error by" in out
    run("experiment", "data", str(tiny_dir), "--out", str(tmp_path), "--fractions", "0,1", code=2)


def test_predict_warns_outside_the_trained_range(runs, nets_file):
    out = run("predict", str(runs / "structured"), "--nets", str(nets_file), "--id", "3",
              "--hw", HW.replace("pe_rows=16", "pe_rows=64"))
    assert "warning: OutOfRangeWarning: hardware: row 0: pe_rows=64 is outside the trained range [8, 32] (1 row(s))" in " ".join(out.split())
    assert "P = " in out
