"""``nets show`` for operator graphs: one row per operator, totals, summaries of both forms, speed."""

from __future__ import annotations

import io
import re
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hwpower.cli import app, common
from hwpower.networks import read_networks, sample_networks
from hwpower.networks.builder import GraphBuilder
from hwpower.cli.network_tables import graph_table, network_table, op_fields, summary_table

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(common.console, "width", 200)
    monkeypatch.setattr(common.err_console, "width", 400)


def render(table, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width)
    console.print(table)
    return console.file.getvalue()


def small_net():
    b = GraphBuilder()
    x = b.input((1, 64, 56, 56))
    y = b.conv(x, 64, 3, stride=2, groups=32, name="grouped")
    z = b.pool(x, 3, stride=2, padding=1, name="maxpool")
    c = b.shuffle(b.concat([y, z], name="cat"), 2, name="shuf")
    b.add(b.flatten(b.global_pool(c)), params=128, name="bias")
    return b.build("small")


def test_op_fields_show_what_differs_from_the_defaults():
    ops = {op.name: op for op in small_net().ops}
    assert op_fields(ops["grouped"]) == "k3 s2 g32 bn relu"  # "same" padding left out
    assert op_fields(ops["maxpool"]) == "max k3 s2 p1"  # pooling says its function even at the default
    assert op_fields(ops["cat"]) == "concat"
    assert op_fields(ops["bias"]) == "add +128 params"
    b = GraphBuilder()
    b.conv(b.input((1, 4, 9, 9)), 4, (1, 3), padding=0, dilation=2, act="none", norm=False, bias=True)
    assert op_fields(b.build().ops[0]) == "k1x3 p0 d2 bias"  # "same" would pad (0, 2)


def test_graph_table_rows_and_totals():
    net = small_net()
    text = render(network_table(net, title="t"))
    lines = [line for line in text.splitlines() if "│" in line]
    assert len(lines) == len(net.ops) + 1  # one row per operator, then the totals
    conv_row = next(line for line in lines if "grouped" in line)
    cells = [c.strip() for c in conv_row.split("│")[1:-1]]
    op = net.ops[0]
    assert cells == ["0", "grouped", "conv2d", "k3 s2 g32 bn relu", "1x64x28x28", f"{op.macs / 1e6:,.2f}",
                     f"{op.weights / 1e3:,.1f}", f"{op.in_act / 1e3:,.1f}", f"{op.out_act / 1e3:,.1f}"]
    total = [c.strip() for c in lines[-1].split("│")[1:-1]]
    c = net.counts
    assert total == ["", "total", "", f"{len(net.ops)} operators, depth {c.depth}", "1x128", f"{c.macs / 1e6:,.2f}",
                     f"{c.weights / 1e3:,.1f}", f"{c.in_act / 1e3:,.1f}", f"{c.out_act / 1e3:,.1f}"]


def test_summary_table_of_both_forms():
    nets = {0: sample_networks("ofa-mbv3", 1, seed=0)[0], 1: small_net()}
    rows = [line for line in render(summary_table(nets)).splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in row.split("│")[1:-1]] for row in rows]
    block, graph = nets[0], nets[1]
    assert cells[0][:5] == ["0", "", f"1x3x{block.input_resolution}x{block.input_resolution}",
                            f"{len(block.blocks)} blocks", str(block.counts.depth)]
    assert cells[1] == ["1", "small", "1x64x56x56", f"{len(graph.ops)} ops", str(graph.counts.depth),
                        f"{graph.counts.macs / 1e6:,.1f}", f"{graph.counts.flops / 1e6:,.1f}",
                        f"{graph.counts.weights / 1e6:.3f}"]


def long_net(blocks: int = 500):
    b = GraphBuilder()
    x = b.input((1, 16, 32, 32))
    for i in range(blocks):
        with b.scope(f"b{i}"):
            y = b.conv(b.conv(x, 16, 3), 16, 1, act="none")
            x = b.act(b.add(x, y), "relu")
    return b.build("long")


def test_two_thousand_operators_render_quickly():
    start = time.perf_counter()
    net = long_net()
    text = render(graph_table(net))
    elapsed = time.perf_counter() - start
    assert len(net.ops) == 2000
    rows = [line for line in text.splitlines() if "│" in line]
    assert len(rows) == 2001
    assert rows[-2].split("│")[1:4] == [" 1999 ", " b499.relu0 ", " eltwise "]
    assert "2000 operators, depth 1000" in rows[-1]
    assert elapsed < 10  # about 0.7 s on a shared core (one rich cell per value took 2.2 s to render)


def test_narrow_terminal_cuts_text_not_numbers_and_keeps_rows_aligned():
    net = small_net()
    text = render(graph_table(net), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" in text  # something had to give
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if "│" in line]
    assert len(rows) == len(net.ops) + 1 and len({len(r) for r in rows}) == 1
    assert [r[0] for r in rows[:-1]] == [str(i) for i in range(len(net.ops))]
    assert [r[6] for r in rows[:-1]] == [f"{op.weights / 1e3:,.1f}" for op in net.ops]  # numbers whole
    assert rows[1][3].startswith("max")  # the pool's row, even where its fields are cut
    wide = render(graph_table(net), width=200)
    assert "k3 s2 g32 bn relu" in wide and "…" not in wide


def test_cli_sample_and_show_a_graph_space(tmp_path):
    out = tmp_path / "nets_t.json"
    args = ["nets", "sample", "--space", "transformer", "-n", "3", "--seed", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    nets = read_networks(out)
    assert nets == sample_networks("transformer", 3, seed=2)
    summary = runner.invoke(app, ["nets", "show", str(out)])
    assert summary.exit_code == 0, summary.output
    for net in nets.values():
        assert f"{len(net.ops)} ops" in summary.output and net.name in summary.output
    one = runner.invoke(app, ["nets", "show", str(out), "--id", "1"])
    assert one.exit_code == 0, one.output
    assert f"{len(nets[1].ops)} operators, depth {nets[1].counts.depth}" in one.output
    assert one.output.count(" matmul ") == sum(op.kind_name == "matmul" for op in nets[1].ops)


def test_cli_space_help_and_close_matches(tmp_path):
    shown = runner.invoke(app, ["nets", "sample", "--help"])
    help_text = re.sub(r"[\s│]+", " ", shown.output)  # rich wraps the option help inside a box
    assert shown.exit_code == 0 and "Registered search space: mixed, ofa-mbv3, resnet, transformer." in help_text
    assert "operator graphs or block sequences" in runner.invoke(app, ["nets", "--help"]).output
    bad = runner.invoke(app, ["nets", "sample", "--space", "transfomer", "-n", "1", "--out", str(tmp_path / "x.json")])
    assert bad.exit_code != 0 and "did you mean transformer" in bad.output
    assert not (tmp_path / "x.json").exists()
