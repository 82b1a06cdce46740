"""``hwpower nets import`` with the operator-level importers, through the real Typer app."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hwpower.cli import app, common
from hwpower.networks import GraphNetwork, Network, read_networks

pytest.importorskip("torchvision")
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.err_console, "width", 400)


def run(*args: str):
    return runner.invoke(app, ["nets", "import", *args])


def test_import_graph_and_block_forms_with_overrides(tmp_path):
    out = tmp_path / "nets.json"
    result = run("torchvision:resnet18", "torchvision-blocks:resnet18", "--resolution", "64", "--batch", "2",
                 "--num-classes", "10", "--out", str(out), "--id", "3")
    assert result.exit_code == 0, result.output
    nets = read_networks(out)
    graph, blocks = nets[3], nets[4]
    assert isinstance(graph, GraphNetwork) and isinstance(blocks, Network)
    assert graph.input_shape == (2, 3, 64, 64) and graph.ops[-1].out_shape == (2, 10)
    assert graph.counts.weights == blocks.counts.weights == 11181642
    lines = result.output.splitlines()
    assert lines[0] == (f"3: resnet18: input [2, 3, 64, 64], {len(graph.ops)} operators, "
                        f"{graph.counts.macs / 1e9:.3f} GMACs, 11,181,642 weights")
    assert lines[1].startswith("4: resnet18: input [1, 3, 64, 64], 12 blocks,")


def test_input_shape_for_a_module_factory(tmp_path):
    out = tmp_path / "lin.json"
    result = run("module:torch.nn:Linear?in_features=8&out_features=4", "--input-shape", "5,8", "--out", str(out))
    assert result.exit_code == 0, result.output
    (net,) = read_networks(out).values()
    assert net.input_shape == (5, 8) and net.counts.macs == 160 and "input [5, 8], 1 operators" in result.output


@pytest.mark.parametrize("args, message", [
    (("torchvision:resnet5",), "torchvision:resnet5: unknown torchvision model (did you mean resnet50"),
    (("torchvision:resnet18", "--input-shape", "1,3,x"), "--input-shape: expected positive integers"),
    (("module:torch.nn:Linear?in_features=8&out_features=4",), "give --input-shape"),
    (("torch:resnet18",), "expected SOURCE:NAME with SOURCE one of"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, args, message):
    result = run(*args, "--out", str(tmp_path / "x.json"))
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()



def test_import_never_replaces_a_file_without_force(tmp_path):
    out = tmp_path / "nets.json"
    out.write_text("my notes")
    result = run("torchvision:resnet18", "--out", str(out))
    assert result.exit_code == 2 and "pass --force" in result.output
    assert out.read_text() == "my notes"
    assert run("torchvision:resnet18", "--out", str(out), "--force").exit_code == 0
    assert read_networks(out)[0].name == "resnet18"
