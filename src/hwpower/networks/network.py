"""A network: an ordered sequence of blocks plus its input resolution, and its counts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any

from .blocks import Block, block_from_dict
from .layers import Layer, LayerOp, LayerTable

INPUT_CHANNELS = 3  # RGB images


@dataclass(frozen=True)
class Counts:
    """Counts of a layer, block or network (see :mod:`hwpower.networks.layers` for definitions)."""

    macs: int
    flops: int
    other_ops: int
    weights: int
    in_act: int
    out_act: int
    depth: int  # weight layers (conv, linear) on the main path; shortcut projections excluded
    n_layers: int

    @classmethod
    def of(cls, layers: list[Layer]) -> Counts:
        return cls(
            macs=sum(x.macs for x in layers),
            flops=sum(x.flops for x in layers),
            other_ops=sum(x.other_ops for x in layers),
            weights=sum(x.weights for x in layers),
            in_act=sum(x.in_act for x in layers),
            out_act=sum(x.out_act for x in layers),
            depth=sum(1 for x in layers if x.op in (LayerOp.CONV, LayerOp.LINEAR) and not x.branch),
            n_layers=len(layers),
        )

    @classmethod
    def total(cls, parts: list[Counts] | tuple[Counts, ...]) -> Counts:
        """Field-wise sum: every count is additive over layers."""
        return cls(*(sum(getattr(p, f.name) for p in parts) for f in fields(cls)))


@lru_cache(maxsize=1 << 16)
def block_counts(block: Block) -> Counts:
    """Counts of one block. Memoised because blocks are immutable values and search-space
    networks repeat the same blocks many times (about 10x faster network counting)."""
    return Counts.of(block.layers())


@lru_cache(maxsize=1 << 16)
def block_rows(block: Block) -> tuple[tuple[int, ...], ...]:
    """The :class:`LayerTable` rows of one block, memoised like :func:`block_counts`."""
    return tuple(LayerTable.row(layer) for layer in block.layers())


@dataclass(frozen=True)
class Network:
    """Ordered blocks and the input resolution. Construct through :meth:`build` to validate."""

    blocks: tuple[Block, ...]
    input_resolution: int
    name: str | None = None

    @classmethod
    def build(cls, blocks: list[Block] | tuple[Block, ...], input_resolution: int, name: str | None = None) -> Network:
        """Validate shape consistency between consecutive blocks and build the network.

        Raises ``ValueError`` naming the block index and the mismatch.
        """
        if not blocks:
            raise ValueError("a network needs at least one block")
        if isinstance(input_resolution, bool) or not isinstance(input_resolution, int) or input_resolution < 1:
            raise ValueError(f"input_resolution must be a positive integer, got {input_resolution!r}")
        shape = (INPUT_CHANNELS, input_resolution)
        for i, block in enumerate(blocks):
            if not block.accepts(shape):
                raise ValueError(
                    f"block {i} ({block.type_name}) expects input (channels, size) {block.in_shape} "
                    f"but the previous output is {shape}"
                )
            shape = block.out_shape
        return cls(tuple(blocks), input_resolution, name)

    @classmethod
    def from_dict(cls, data: Any) -> Network:
        """Parse the JSON form: ``{"input_resolution": R, "blocks": [...], "name": optional}``
        or a bare list of blocks (the resolution is then the first block's input size)."""
        if isinstance(data, list):
            data = {"blocks": data}
        if not isinstance(data, dict):
            raise ValueError(f"a network must be an object or a list of blocks, got {type(data).__name__}")
        unknown = sorted(set(data) - {"blocks", "input_resolution", "name"})
        if unknown:
            raise ValueError(f"unknown network field(s) {unknown}")
        raw_blocks = data.get("blocks")
        if not isinstance(raw_blocks, list) or not raw_blocks:
            raise ValueError("'blocks' must be a non-empty list")
        blocks = []
        for i, raw in enumerate(raw_blocks):
            try:
                blocks.append(block_from_dict(raw))
            except ValueError as exc:
                raise ValueError(f"block {i}: {exc}") from None
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"'name' must be a string, got {name!r}")
        resolution = data.get("input_resolution", blocks[0].in_shape[1])
        return cls.build(blocks, resolution, name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_resolution": self.input_resolution}
        if self.name is not None:
            out["name"] = self.name
        out["blocks"] = [b.to_dict() for b in self.blocks]
        return out

    @cached_property
    def block_layers(self) -> tuple[tuple[Layer, ...], ...]:
        return tuple(tuple(b.layers(f"b{i}.")) for i, b in enumerate(self.blocks))

    @property
    def layers(self) -> list[Layer]:
        return [layer for block in self.block_layers for layer in block]

    @cached_property
    def counts(self) -> Counts:
        return Counts.total(self.block_counts())

    def block_counts(self) -> list[Counts]:
        return [block_counts(b) for b in self.blocks]

    def layer_table(self) -> LayerTable:
        """The layers as column arrays (a fresh table each call: callers may modify it)."""
        return LayerTable.from_rows([row for b in self.blocks for row in block_rows(b)])
