"""End-to-end: ``hwpower nets sample | import | show`` through the real Typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.networks import read_networks, sample_networks

from hwpower.cli import common

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # The CLI's rich consoles measured their width at import; widen them so lines do not wrap.
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.err_console, "width", 400)  # error lines name long temporary paths


def run(*args: str):
    return runner.invoke(app, list(args))


def test_sample_then_show_summary_and_one_network(tmp_path):
    out = tmp_path / "nets_0.json"
    result = run("nets", "sample", "--space", "ofa-mbv3", "-n", "5", "--seed", "0", "--out", str(out))
    assert result.exit_code == 0, result.output
    nets = read_networks(out)
    assert nets == sample_networks("ofa-mbv3", 5, seed=0)

    summary = run("nets", "show", str(out))
    assert summary.exit_code == 0, summary.output
    for net_id, net in nets.items():
        assert f"{net.counts.macs / 1e6:,.1f}" in summary.output  # one row per network, MACs in millions
    table = run("nets", "show", str(out), "--id", "2")
    assert table.exit_code == 0, table.output
    net = nets[2]
    assert f"{net.counts.macs / 1e6:,.2f}" in table.output  # the totals row
    assert f"{net.counts.n_layers} layers, depth {net.counts.depth}" in table.output
    assert table.output.count("mbconv") == sum(b.type_name == "mbconv" for b in net.blocks)


def test_import_then_show(tmp_path):
    pytest.importorskip("torchvision")
    out = tmp_path / "r18.json"
    result = run("nets", "import", "torchvision:resnet18", "--out", str(out), "--id", "7")
    assert result.exit_code == 0, result.output
    nets = read_networks(out)
    assert list(nets) == [7] and nets[7].name == "resnet18"
    assert json.loads(out.read_text())["7"]["name"] == "resnet18"
    shown = run("nets", "show", str(out))
    assert shown.exit_code == 0 and "conv2d" in shown.output and "11,689.5" in shown.output  # k weights


@pytest.mark.parametrize("args, message", [
    (("nets", "import", "keras:resnet50", "--out", "x.json"), "expected SOURCE:NAME"),
    (("nets", "sample", "--space", "darts", "--out", "x.json"), "unknown search space 'darts'"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_show_bad_file_and_missing_id(tmp_path):
    bad = tmp_path / "nets_bad.json"
    bad.write_text('{"0": {"input_resolution": 32, "blocks": [{"type": "conv", "in_channels": 3}]}}')
    result = run("nets", "show", str(bad))
    assert result.exit_code == 2
    assert "nets_bad.json" in result.output and "network 0" in result.output and "block 0" in result.output
    assert "Traceback" not in result.output

    good = tmp_path / "nets_1.json"
    assert run("nets", "sample", "-n", "2", "--out", str(good)).exit_code == 0
    missing = run("nets", "show", str(good), "--id", "9")
    assert missing.exit_code == 2 and "no network 9" in missing.output
