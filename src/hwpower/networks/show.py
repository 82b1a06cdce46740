"""Readable tables of networks (rich), used by ``hwpower nets show`` and the demo."""

from __future__ import annotations

import dataclasses

from rich.table import Table

from .blocks import Block
from .network import Counts, Network

# Fields shown in the in/out shape columns rather than among a block's key fields.
_SHAPE_FIELDS = frozenset({"in_channels", "out_channels", "input_size", "channels", "in_features", "out_features"})


# Short names that keep the table narrow; a field not listed shows its full name.
_SHORT = {"expand_ratio": "e", "kernel": "k", "stride": "s", "groups": "g", "padding": "p",
          "mid_channels": "mid", "se_channels": "sq", "global_pool": "global"}


def _field_text(name: str, value: object) -> str:
    if name == "activation" or name in ("mode", "kind"):
        return str(value)
    if isinstance(value, bool):
        return _SHORT.get(name, name) if value else f"no-{_SHORT.get(name, name)}"
    return f"{_SHORT.get(name, name)}{value:g}" if isinstance(value, float) else f"{_SHORT.get(name, name)}{value}"


def block_fields(block: Block) -> str:
    """A block's fields other than its shape and defaults, e.g. ``k3 s2 hswish`` or ``e4 k5 s2 se``."""
    parts = []
    for f in dataclasses.fields(block):
        value = getattr(block, f.name)
        if f.name in _SHAPE_FIELDS or value is None or value == f.default:
            continue
        parts.append(_field_text(f.name, value))
    return " ".join(parts)


def _shape(shape: tuple[int, int]) -> str:
    channels, size = shape
    return f"{channels}x{size}"


def _mega(value: int) -> str:
    return f"{value / 1e6:,.2f}"


def _kilo(value: int) -> str:
    return f"{value / 1e3:,.1f}"


def network_table(net: Network, title: str | None = None) -> Table:
    """One row per block (index, type, fields, output shape, MACs, weights, activations), and totals.

    Shapes are channels x height (= width); MACs in millions, weights and activation elements in
    thousands, to fit a terminal. A block's input shape is the previous block's output.
    """
    counts = net.block_counts()
    title = title or f"{net.name or 'network'} ({net.input_resolution} px)"
    table = Table(title=title, show_footer=True)
    total = net.counts
    columns = [("#", ""), ("type", "total"), ("fields", f"{total.n_layers} layers, depth {total.depth}"),
               ("out CxH", _shape(net.blocks[-1].out_shape)), ("MMACs", _mega(total.macs)),
               ("k weights", _kilo(total.weights)), ("k in act", _kilo(total.in_act)),
               ("k out act", _kilo(total.out_act))]
    for i, (header, footer) in enumerate(columns):
        numeric = i == 0 or i >= 4
        table.add_column(header, footer, justify="right" if numeric else "left", no_wrap=i != 2)
    for i, (block, c) in enumerate(zip(net.blocks, counts, strict=True)):
        table.add_row(str(i), block.type_name, block_fields(block), _shape(block.out_shape),
                      _mega(c.macs), _kilo(c.weights), _kilo(c.in_act), _kilo(c.out_act))
    return table


def summary_table(nets: dict[int, Network], title: str = "networks") -> Table:
    """One row per network: id, name, resolution (px), blocks, layers, depth, millions of MACs, FLOPs
    (= 2 x MACs) and weights."""
    table = Table(title=title)
    for header in ("id", "name", "px", "blocks", "layers", "depth", "MMACs", "MFLOPs", "M weights"):
        table.add_column(header, justify="left" if header == "name" else "right")
    for net_id, net in sorted(nets.items()):
        c: Counts = net.counts
        table.add_row(str(net_id), net.name or "", str(net.input_resolution), str(len(net.blocks)),
                      str(c.n_layers), str(c.depth), f"{c.macs / 1e6:,.1f}", f"{c.flops / 1e6:,.1f}",
                      f"{c.weights / 1e6:.3f}")
    return table
