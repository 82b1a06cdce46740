"""Block sequences expand into operator graphs: the compact form of the search spaces becomes the
operator-level form every other network has (docs/data-format.md).

Each block layer becomes one operator with batch-1 shapes; element-wise layers are wired to the
tensor their ``joins`` names; a linear layer after a feature map reads it through a zero-cost view
(the flatten). MACs and weights equal the block network's exactly (tested).
"""

from __future__ import annotations

from .blocks import PoolBlock
from .graph import GraphNetwork
from .layers import Layer, LayerOp
from .network import INPUT_CHANNELS, Network
from .ops import Op, Shape, conv_out

INPUT = "x"


def _padding(layer: Layer) -> int:
    """The padding that gives the layer's output size (block layers keep sizes, not paddings)."""
    for pad in range(layer.kernel):
        if conv_out(layer.in_size, layer.kernel, layer.stride, pad, 1) == layer.out_size:
            return pad
    raise ValueError(f"{layer.name}: no padding turns size {layer.in_size} into {layer.out_size}")


def image_shape(channels: int, size: int) -> Shape:
    """The batch-1 shape of a feature map."""
    return (1, channels, size, size)


class Expander:
    """Walks the blocks, keeping the running tensor, the block input and earlier block outputs.

    The extension point for expanding blocks differently: a subclass may override
    :meth:`second_input` (which tensor an element-wise layer joins) or :meth:`layer` (the operator
    a block layer becomes). ``hwpower.processing.opfeatures`` expands one block in isolation so.
    """

    def __init__(self, resolution: int):
        self.ops: list[Op] = []
        self.shapes: dict[str, Shape] = {INPUT: image_shape(INPUT_CHANNELS, resolution)}
        self.current = INPUT
        self.block_outputs: list[str] = [INPUT]

    def add(self, name: str, kind: LayerOp, inputs: list[str], out: Shape, **attrs: object) -> str:
        op = Op.build(name, kind, inputs, [self.shapes[x] for x in inputs], out, **attrs)
        self.ops.append(op)
        self.shapes[name] = out
        return name

    def block(self, index: int, block: object) -> None:
        block_in, branch, se_input = self.current, None, None
        for layer in block.layers(f"b{index}."):  # type: ignore[attr-defined]
            source = block_in if layer.branch else self.current
            if layer.op is LayerOp.POOL:  # a squeeze-excite scale multiplies what its pooling read
                se_input = source
            name = self.layer(layer, block, source, self.second_input(layer, block_in, branch, se_input))
            if layer.branch:
                branch = name
            else:
                self.current = name
        self.block_outputs.append(self.current)

    def second_input(self, layer: Layer, block_in: str, branch: str | None, se_input: str | None) -> str | None:
        """The tensor an element-wise ``layer`` joins with the running one (``None``: it reads one):
        the block's input or its ``branch`` (a residual), the input of a squeeze-excite's pooling
        (``se_input``), or an earlier block's output."""
        if layer.joins == "input":
            return branch or block_in
        if layer.joins == "se":
            return se_input
        if layer.joins == "earlier":  # the latest earlier block output of the same shape
            want = image_shape(layer.out_channels, layer.out_size)
            for name in reversed(self.block_outputs[:-1]):
                if self.shapes[name] == want:
                    return name
            raise ValueError(f"{layer.name}: no earlier tensor of shape {list(want)} to add")
        return None

    def layer(self, layer: Layer, block: object, source: str, second: str | None) -> str:
        out = image_shape(layer.out_channels, layer.out_size)
        if layer.op is LayerOp.CONV:
            return self.add(layer.name, LayerOp.CONV, [source], out, kernel=layer.kernel, stride=layer.stride,
                            padding=_padding(layer), groups=layer.groups, bias=layer.bias,
                            norm="batch" if layer.norm else "none")
        if layer.op is LayerOp.LINEAR:
            if len(self.shapes[source]) != 2:
                source = self.add(f"{layer.name}.flatten", LayerOp.MOVE, [source], (1, layer.in_channels), fn="view")
            return self.add(layer.name, LayerOp.LINEAR, [source], (1, layer.out_channels), bias=layer.bias)
        if layer.op is LayerOp.POOL:
            mode = block.mode if isinstance(block, PoolBlock) else "avg"
            return self.add(layer.name, LayerOp.POOL, [source], out, fn=mode, kernel=layer.kernel,
                            stride=layer.stride, padding=_padding(layer))
        if layer.op is LayerOp.ELTWISE:
            inputs = [source] if second is None else ([second, source] if layer.joins == "se" else [source, second])
            return self.add(layer.name, LayerOp.ELTWISE, inputs, out, fn="mul" if layer.joins == "se" else "add")
        raise ValueError(f"{layer.name}: block layers of kind {layer.op.name} do not expand")


def expand_network(net: Network) -> GraphNetwork:
    """The operator graph of a block network (batch 1)."""
    walker = Expander(net.input_resolution)
    for i, block in enumerate(net.blocks):
        walker.block(i, block)
    return GraphNetwork.build(walker.ops, {INPUT: walker.shapes[INPUT]}, net.name)
