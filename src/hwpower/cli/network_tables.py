"""Readable tables of networks (rich), used by ``hwpower nets show`` and the demo.

Block networks show one row per block, operator graphs one row per operator; the summary of a
file shows one row per network of either form.
"""

from __future__ import annotations

import dataclasses

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

from ..networks.blocks import Block
from ..networks.graph import GraphNetwork
from ..networks.jsonio import AnyNetwork
from ..networks.network import INPUT_CHANNELS, Counts, Network
from ..networks.ops import KINDS, Op

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


def network_table(net: AnyNetwork, title: str | None = None) -> Table | ColumnTable:
    """The block table of a block network, the operator table of a graph (:func:`graph_table`)."""
    if isinstance(net, GraphNetwork):
        return graph_table(net, title)
    return block_table(net, title)


def block_table(net: Network, title: str | None = None) -> Table:
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


# Attributes shown with a short prefix and the value (``k3``, ``s2``, ``g32``); pairs of equal
# values show once. Attributes not listed show their value alone (``relu``, ``concat``, ``avg``).
_OP_SHORT = {"kernel": "k", "stride": "s", "padding": "p", "dilation": "d", "groups": "g", "num": "num"}
_OP_FLAGS = {"bias": "bias", "ceil_mode": "ceil", "shared": "shared"}
_OP_ORDER = ("fn", "kernel", "stride", "padding", "dilation", "groups", "norm", "act", "bias", "shared", "ceil_mode",
             "num", "params")


def _attr_text(key: str, value: object) -> str:
    if key in _OP_FLAGS:
        return _OP_FLAGS[key]
    if key == "params":
        return f"+{value} params"
    if key == "norm":
        return "bn" if value == "batch" else f"{value}-norm"
    if isinstance(value, tuple):
        value = value[0] if len(set(value)) == 1 else "x".join(map(str, value))
    return f"{_OP_SHORT[key]}{value}" if key in _OP_SHORT else str(value)


def op_fields(op: Op) -> str:
    """An operator's attributes other than their defaults, e.g. ``k3 s2 g32 bn relu`` or ``concat``
    (a convolution's padding only when not "same"; ``affine``, a parameter count, shows among the
    weights)."""
    attrs = op.attr_dict
    defaults = dict(KINDS[op.kind].attrs)
    if "dilation" in attrs:  # a convolution's "same" padding goes without saying
        defaults["padding"] = tuple(d * (k - 1) // 2 for k, d in zip(attrs["kernel"], attrs["dilation"], strict=True))
    shown = [k for k in _OP_ORDER if k in attrs and attrs[k] != defaults.get(k, 0)]
    if "fn" in defaults and "fn" not in shown:  # an element-wise add or max pool still says which
        shown.insert(0, "fn")
    return " ".join(_attr_text(k, attrs[k]) for k in shown)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


# Columns that give way, in this order, when the table is wider than the terminal: name and fields
# first, the numbers only past that (rich alone narrows every column alike and cuts numbers short).
_GIVE_WAY = (1, 3, 4, 2)
_MIN_WIDTH = 5


@dataclasses.dataclass(frozen=True)
class ColumnTable:
    """A rich renderable: each column one multi-line cell, fitted to the terminal when printed.

    Rich renders a cell in about 0.1 ms, so 2,000 operators as 18,000 cells took 2 s to print and as
    9 cells take a quarter of it. No cell wraps (a long one is cut with an ellipsis), so the lines
    of the columns stay aligned row by row.
    """

    title: str
    headers: tuple[str, ...]
    footers: tuple[str, ...]
    right: tuple[bool, ...]  # right-justified (numbers)
    rows: tuple[tuple[str, ...], ...]

    def layout(self, max_width: int) -> tuple[tuple[str, ...], list[int]]:
        """Headers and column widths: the text columns give way first, then the headers take two
        lines (``k in`` over ``act``); what still does not fit, rich cuts."""
        stacked = tuple(h[::-1].replace(" ", "\n", 1)[::-1] for h in self.headers)
        for headers in (self.headers, stacked):
            cells = zip(self.footers, *self.rows, strict=True)  # column by column
            widths = [max([*(cell_len(line) for line in header.split("\n")), *(cell_len(text) for text in column)])
                      for header, column in zip(headers, cells, strict=True)]
            excess = sum(widths) + 3 * len(widths) + 1 - max_width  # a border and two spaces a column
            for i in _GIVE_WAY:
                cut = max(0, min(excess, widths[i] - _MIN_WIDTH))
                widths[i] -= cut
                excess -= cut
            if excess <= 0:
                break
        return headers, widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title=self.title, show_footer=True)
        headers, widths = self.layout(options.max_width)
        for header, footer, right, width in zip(headers, self.footers, self.right, widths, strict=True):
            table.add_column(header, footer, justify="right" if right else "left", no_wrap=True, width=width,
                             overflow="ellipsis")
        table.add_row(*("\n".join(column) for column in zip(*self.rows, strict=True)))
        yield table


def graph_table(net: GraphNetwork, title: str | None = None) -> ColumnTable:
    """One row per operator (index, name, kind, attributes, output shape, MACs, weights,
    activations) and totals. Shapes include the batch; MACs in millions, weights and activation
    elements in thousands."""
    total = net.counts
    columns = [("#", ""), ("name", "total"), ("kind", ""),
               ("fields", f"{total.n_layers} operators, depth {total.depth}"),
               ("out shape", _dims(net.ops[-1].out_shape)), ("MMACs", _mega(total.macs)),
               ("k weights", _kilo(total.weights)), ("k in act", _kilo(total.in_act)),
               ("k out act", _kilo(total.out_act))]
    rows = tuple((str(i), op.name, op.kind_name, op_fields(op), _dims(op.out_shape), _mega(op.macs),
                  _kilo(op.weights), _kilo(op.in_act), _kilo(op.out_act)) for i, op in enumerate(net.ops))
    headers, footers = zip(*columns, strict=True)
    return ColumnTable(title or f"{net.name or 'network'} (input {_dims(net.input_shape)})", headers, footers,
                       tuple(i == 0 or i >= 5 for i in range(len(columns))), rows)


def _input_text(net: AnyNetwork) -> str:
    if isinstance(net, GraphNetwork):
        return _dims(net.input_shape)
    return _dims((1, INPUT_CHANNELS, net.input_resolution, net.input_resolution))


def _size_text(net: AnyNetwork) -> str:
    return f"{len(net.ops)} ops" if isinstance(net, GraphNetwork) else f"{len(net.blocks)} blocks"


def summary_table(nets: dict[int, AnyNetwork], title: str = "networks") -> Table:
    """One row per network of either form: id, name, input shape (with the batch), operators or
    blocks, depth, millions of MACs, FLOPs (= 2 x MACs) and weights."""
    table = Table(title=title)
    for header in ("id", "name", "input", "ops/blocks", "depth", "MMACs", "MFLOPs", "M weights"):
        table.add_column(header, justify="left" if header in ("name", "input") else "right")
    for net_id, net in sorted(nets.items()):
        c: Counts = net.counts
        table.add_row(str(net_id), net.name or "", _input_text(net), _size_text(net), str(c.depth),
                      f"{c.macs / 1e6:,.1f}", f"{c.flops / 1e6:,.1f}", f"{c.weights / 1e6:.3f}")
    return table
