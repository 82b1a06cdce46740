"""End to end through the Typer app: recover, identify, design (the context is the stand-in one)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.networks import write_networks

from .conftest import FakeOracle

runner = CliRunner()
HIDDEN = pd.DataFrame([dict(pe_rows=8, pe_cols=8, glb_kib=256, dram_gbps=16, freq_mhz=800, bits=16, dataflow="os")])


@pytest.fixture
def setup(ctx, nets, tmp_path, monkeypatch):
    import hwpower.cli.search as cli_search
    monkeypatch.setattr(cli_search, "_context", lambda run_dir, data, seed, steps, ray=None: ctx)
    nets_file = tmp_path / "nets_t.json"
    write_networks(nets_file, dict(enumerate(nets)))
    return tmp_path, nets_file


def test_recover_cli_verified_json(setup, nets):
    tmp, nets_file = setup
    target = float(FakeOracle().evaluate(nets[1], HIDDEN)["P"][0])
    res = runner.invoke(app, ["recover", str(tmp / "run"), "--nets", str(nets_file), "--id", "1", "--target",
                              f"P={target}", "--verify", "--out", str(tmp / "r.json"), "--top-k", "3"])
    assert res.exit_code == 0, res.output
    assert "recover: candidates (oracle-verified)" in res.output
    data = json.loads((tmp / "r.json").read_text())
    assert data["task"] == "recover" and data["verified"] and len(data["candidates"]) <= 3
    assert min(abs(c["oracle_err_P_pct"]) for c in data["candidates"]) < 2.0


def test_search_out_is_replaced_only_with_force(setup):
    tmp, nets_file = setup
    args = ["design", str(tmp / "run"), "--nets", str(nets_file), "--id", "0", "--out", str(tmp / "d.json")]
    (tmp / "d.json").write_text("earlier")
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "pass --force" in res.output.replace("\n", " ")
    assert (tmp / "d.json").read_text() == "earlier"
    res = runner.invoke(app, args + ["--force"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp / "d.json").read_text())["task"] == "design"


def test_identify_cli(setup, nets):
    tmp, nets_file = setup
    meas = FakeOracle().evaluate_many(nets, np.arange(len(nets)), pd.concat([HIDDEN] * len(nets), ignore_index=True))
    lines = ["network,P_core,P_bw"] + [f"{i},{r.P_core},{r.P_bw}" for i, r in meas.iterrows()]
    (tmp / "m.csv").write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["identify", str(tmp / "run"), "--measurements", str(tmp / "m.csv"), "--nets",
                              str(nets_file), "--verify", "--out", str(tmp / "i.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp / "i.json").read_text())
    best = data["candidates"][0]
    assert best["oracle_max_err_pct"] < 2.0 and best["freq_mhz"] == 800
    assert {r["parameter"] for r in data["spread"]} >= {"pe_rows", "freq_mhz", "dataflow"}


def test_design_cli_with_fix_and_constraint(setup):
    tmp, nets_file = setup
    res = runner.invoke(app, ["design", str(tmp / "run"), "--nets", str(nets_file), "--id", "0", "--id", "2",
                              "--minimize", "P", "--constraint", "latency_ms<=40", "--fix", "bits=8", "--verify",
                              "--out", str(tmp / "d.json")])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp / "d.json").read_text())
    assert all(c["bits"] == 8 for c in data["candidates"])
    assert data["meta"]["best"]["bits"] == 8 and data["meta"]["constraints"] == ["latency_ms<=40"]
    assert "best oracle-feasible" in res.output


def test_design_cli_margin_and_truth_calls(setup):
    tmp, nets_file = setup
    res = runner.invoke(app, ["design", str(tmp / "run"), "--nets", str(nets_file), "--id", "0", "--constraint",
                              "latency_ms<=40", "--margin", "0.05", "--truth-calls", "20", "--verify", "--out", str(tmp / "m.json")])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp / "m.json").read_text())["meta"]
    assert meta["margin"] == 0.05 and meta["oracle_calls"] <= 20 and meta["n_verified"] == 20
    bad = runner.invoke(app, ["design", str(tmp / "run"), "--nets", str(nets_file), "--id", "0", "--margin", "-1"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("args, message", [
    (["--constraint", "latency<=5"], "unknown output 'latency'"),
    (["--fix", "bits=12"], "not an allowed value of bits"),
    (["--id", "99"], "no network with id 99"),
    (["--minimize", "P*2"], "cannot read term"),
])
def test_design_cli_bad_input_is_a_clear_error(setup, args, message):
    tmp, nets_file = setup
    base = ["design", str(tmp / "run"), "--nets", str(nets_file), "--id", "0"]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2
    assert message in res.output.replace("\n", " ")


def test_identify_cli_bad_measurements(setup):
    tmp, nets_file = setup
    (tmp / "m.txt").write_text("network P_core P_bw\n0 0.5 0.2\n1 0.4 -1\n")
    res = runner.invoke(app, ["identify", str(tmp / "run"), "--measurements", str(tmp / "m.txt"), "--nets", str(nets_file)])
    assert res.exit_code == 2
    assert "m.txt: line 3: P_bw=-1 must be a positive" in res.output.replace("\n", " ")
