"""ATen converters for data movement, and the operators that are no-ops at inference.

Reshapes (``view``, ``reshape``, ``flatten``, ``squeeze`` ...) become zero-traffic ``view`` moves;
everything that rearranges or copies bytes a move of its own kind. ``contiguous`` is not a copy of
its own: the ``permute`` before it already moves the data. Multi-output operators (``split``,
``chunk``, ``unbind``) emit one slice per output read through ``getitem``.
"""

from __future__ import annotations

from torch import fx

from ..layers import LayerOp
from ..ops import numel
from .aten_registry import aten, converts
from .fx_walk import Walk

# No-ops at inference: the output is the input (dropout is off; conversions keep the values).
SKIP_OPS = {
    aten.dropout.default, aten.dropout_.default, aten.feature_dropout.default, aten.alpha_dropout.default,
    aten.feature_alpha_dropout.default, aten.native_dropout.default, aten.detach.default, aten.detach_.default,
    aten.alias.default, aten.lift_fresh_copy.default, aten.contiguous.default, aten.to.dtype, aten.to.device,
    aten.to.dtype_layout, aten.to.other, aten._to_copy.default, aten.type_as.default, aten.lift_fresh.default,
    aten.requires_grad_.default, aten.view_as_real.default, aten._assert_tensor_metadata.default,
    aten.expand_as.default, aten.positive.default,
}
# Outputs that depend on an activation's shape only, never its values: constants.
CONST_OPS = {
    aten.zeros_like.default, aten.ones_like.default, aten.full_like.default, aten.empty_like.default,
    aten.new_zeros.default, aten.new_ones.default, aten.new_full.default, aten.new_empty.default,
    aten.sym_size.int, aten.sym_numel.default, aten.scalar_tensor.default, aten.rand_like.default,
    aten.randn_like.default,
}

VIEWS = {
    aten.view.default, aten.reshape.default, aten._unsafe_view.default, aten.flatten.using_ints,
    aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, aten.unsqueeze.default, aten.unflatten.int,
    aten.view_as.default, aten.reshape_as.default, aten.ravel.default, aten.squeeze_.dim, aten.unsqueeze_.default,
}
MOVES = {
    aten.permute.default: "permute", aten.transpose.int: "permute", aten.t.default: "permute",
    aten.swapaxes.default: "permute", aten.movedim.int: "permute", aten.transpose_.default: "permute",
    aten.numpy_T.default: "permute", aten.mT.default: "permute",
    aten.as_strided.default: "permute", aten.as_strided_.default: "permute",  # make_fx's form of a re-layout
    aten.slice.Tensor: "slice", aten.select.int: "slice", aten.narrow.default: "slice",
    aten.index.Tensor: "slice", aten.index_select.default: "slice", aten.gather.default: "slice",
    aten.diagonal.default: "slice", aten.take_along_dim.default: "slice",
    aten.pad.default: "pad", aten.constant_pad_nd.default: "pad", aten.reflection_pad2d.default: "pad",
    aten.replication_pad2d.default: "pad", aten.reflection_pad1d.default: "pad",
    aten.replication_pad1d.default: "pad", aten.reflection_pad3d.default: "pad",
    aten.replication_pad3d.default: "pad",
    aten.expand.default: "expand", aten.repeat.default: "expand", aten.repeat_interleave.self_int: "expand",
    aten.unfold.default: "expand", aten.im2col.default: "expand", aten.tile.default: "expand",
    aten.roll.default: "copy", aten.clone.default: "copy", aten.flip.default: "copy", aten.col2im.default: "copy",
    aten.channel_shuffle.default: "shuffle", aten.native_channel_shuffle.default: "shuffle",
    aten.pixel_shuffle.default: "shuffle", aten.pixel_unshuffle.default: "shuffle",
    aten.cat.default: "concat", aten.stack.default: "concat", aten.concat.default: "concat",
    aten.hstack.default: "concat", aten.vstack.default: "concat",
    aten.copy_.default: "copy", aten.slice_scatter.default: "copy", aten.select_scatter.default: "copy",
    aten.index_put.default: "copy", aten.index_put_.default: "copy", aten.masked_scatter.default: "copy",
    aten.fill_.Tensor: "copy",
}
SPLITS = {aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default, aten.unbind.int, aten.split.sizes,
          aten.tensor_split.sections, aten.tensor_split.indices, aten.unsafe_split.Tensor, aten.unsafe_chunk.default}


@converts(*VIEWS)
def _view(walk: Walk, node: fx.Node) -> None:
    x = node.args[0]
    out = walk.out_shape(node)
    if out == walk.shape(x):
        walk.alias(node, x)  # e.g. a flatten of what is flat already
    elif numel(out) != numel(walk.shape(x)):
        raise walk.error(node, f"reshape {list(walk.shape(x))} -> {list(out)} changes the element count")
    else:
        walk.emit(node, LayerOp.MOVE, [x], fn="view")


@converts(*MOVES)
def _move(walk: Walk, node: fx.Node) -> None:
    fn = MOVES[node.target]  # type: ignore[index]
    acts = walk.acts((node.args, node.kwargs))
    if fn == "expand" and walk.out_shape(node) == walk.shape(acts[0]):
        walk.alias(node, acts[0])  # an expand that broadcasts nothing
        return
    if node.target in (aten.copy_.default, aten.fill_.Tensor) and len(acts) == 1 and acts[0] is node.args[0]:
        walk.alias(node, acts[0])  # a constant written into an activation: no data of the network moves
        return
    walk.emit(node, LayerOp.MOVE, acts, fn=fn, params=walk.take((node.args, node.kwargs)))


@converts(*SPLITS)
def _split(walk: Walk, node: fx.Node) -> None:
    walk.multi[node] = ("split", node.args[0])


def getitem(walk: Walk, node: fx.Node) -> None:
    """``outputs[i]`` of a multi-output operator: the first output of a norm or pool (the others,
    saved statistics or indices, are constants), any output of a reduction, or one slice of a split."""
    src, i = node.args
    kind = walk.multi.get(src)
    if kind == "all":
        walk.alias(node, src)
    elif kind == "first":
        if i == 0:
            walk.alias(node, src)
            name = walk.tensor[node]
            if walk.origin.get(name) is src and all(not u.users for u in src.users if u is not node):
                walk.origin[name] = node  # what reads this output may still fold into its operator
        else:
            walk.const[node] = frozenset()
    elif isinstance(kind, tuple) and kind[0] == "split":
        walk.emit(node, LayerOp.MOVE, [kind[1]], suffix="slice", fn="slice")
    else:
        raise walk.error(node, f"output {i} of {src.name}, a multi-output operator hwpower cannot read")

