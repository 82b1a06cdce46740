"""Eyeriss calibration and the `hwpower oracle` / `hwpower calibrate` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.networks import write_networks
from hwpower.oracle.calibration import EYERISS_POWER_W, alexnet, alexnet_conv_layers, eyeriss_alexnet

runner = CliRunner()
HW = "pe_rows=16,pe_cols=16,rf_bytes=64,glb_kib=256,dram_gbps=8,freq_mhz=500,bits=8,dataflow=ws"


def test_alexnet_conv_layers_match_the_paper():
    t = alexnet_conv_layers()
    assert t.pos.tolist() == [55 ** 2, 27 ** 2, 13 ** 2, 13 ** 2, 13 ** 2]  # output pixels
    assert int(t.macs.sum()) == 665_784_864  # AlexNet's conv MACs with the two-group layers
    assert alexnet().counts.n_layers == 7


def test_eyeriss_power_within_2x_of_silicon():
    r = eyeriss_alexnet()
    assert 0.5 <= r.power_core_w / EYERISS_POWER_W <= 2.0
    assert 0.5 <= r.fps / r.published_fps <= 2.0
    assert r.power_bw_w > 0


def test_calibrate_command(monkeypatch):
    from hwpower.cli import common

    monkeypatch.setattr(common.console, "width", 250)  # the console exists already: COLUMNS is read once
    result = runner.invoke(app, ["calibrate"])
    assert result.exit_code == 0, result.output
    assert "eyeriss-alexnet" in result.output and "0.278" in result.output


@pytest.fixture(scope="module")
def nets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "nets_a.json"
    write_networks(path, {3: alexnet()})
    return path


def test_oracle_command_prints_network_and_layers(nets_file):
    result = runner.invoke(app, ["oracle", str(nets_file), "--id", "3", "--hw", HW])
    assert result.exit_code == 0, result.output
    for text in ("per layer", "b0.conv", "b6.conv", "P_core", "latency_ms", "energy by level"):
        assert text in result.output


@pytest.mark.parametrize("args,message", [
    (["--id", "3", "--hw", HW + ",colour=red"], "unknown hardware parameter(s) ['colour']"),
    (["--id", "3", "--hw", "pe_rows=16,pe_cols=16"], "missing hardware parameter(s)"),
    (["--id", "3", "--hw", HW.replace("bits=8", "bits=eight")], "bits='eight' is not a number"),
    (["--id", "3", "--hw", HW.replace("dataflow=ws", "dataflow=rs")], "dataflow='rs' must be one of"),
    (["--id", "9", "--hw", HW], "no network with id 9"),
])
def test_oracle_command_errors(nets_file, args, message):
    result = runner.invoke(app, ["oracle", str(nets_file), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
