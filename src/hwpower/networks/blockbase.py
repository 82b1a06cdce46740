"""What every block is: the :class:`Block` protocol, the registry of block types, the field schema
each block's JSON is validated against, and the parsing of a block's JSON object.

The block vocabulary itself (convolution, inverted residual, ResNet block, ...) is in
:mod:`hwpower.networks.blocks`. A new block type is added in one place: write a dataclass deriving
from :class:`Block`, give it a ``type_name`` and ``layers()``, declare its fields with
:func:`schema_field` and decorate it with :func:`register_block`. Reading, writing, validation,
counting and the oracle then know it; nothing matches block types by substring.

A field's schema is ``"pos"`` (positive int), ``"nonneg"`` (non-negative int), ``"posf"`` (positive,
finite float), ``"bool"``, or a tuple of allowed strings. Fields with a default are optional in JSON.

The schema is checked here rather than by ``msgspec.convert``: msgspec's messages do not show the
offending value ("Expected `int` >= 1 - at `$.kernel`"), it ignores unknown fields of dataclasses
and accepts an infinite float, so matching today's messages would take more code than this.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from .layers import Layer

ACTIVATIONS = ("none", "relu", "relu6", "hswish", "hsigmoid", "swish", "sigmoid")

BLOCK_TYPES: dict[str, type[Block]] = {}


def register_block(cls: type[Block]) -> type[Block]:
    """Class decorator: make a block type known to the JSON reader and writer."""
    if cls.type_name in BLOCK_TYPES:
        raise ValueError(f"block type {cls.type_name!r} registered twice")
    BLOCK_TYPES[cls.type_name] = cls
    return cls


def schema_field(schema: Any, default: Any = dataclasses.MISSING) -> Any:
    """A block's dataclass field, validated against ``schema`` when read from JSON."""
    return field(default=default, metadata={"schema": schema})


@dataclass(frozen=True)
class Block(ABC):
    """A block of a network: knows its input/output shape and the layers it expands into."""

    type_name: ClassVar[str]

    @property
    @abstractmethod
    def in_shape(self) -> tuple[int, int]:
        """(channels, size) of the input tensor."""

    @property
    @abstractmethod
    def out_shape(self) -> tuple[int, int]:
        """(channels, size) of the output tensor."""

    @abstractmethod
    def layers(self, prefix: str = "") -> list[Layer]:
        """The layers this block expands into, in execution order."""

    def accepts(self, shape: tuple[int, int]) -> bool:
        """Whether this block can follow a block whose output has ``shape``."""
        return shape == self.in_shape

    def check(self) -> None:
        """Cross-field checks beyond the per-field schema; raise ``ValueError`` with the problem."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Block:
        """Validate ``data`` (without its ``type`` key) against the schema and build the block.

        Raises ``ValueError`` naming the field and the problem; callers add file and position.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known) - {"type"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} for block type {cls.type_name!r}")
        kwargs: dict[str, Any] = {}
        for name, f in known.items():
            if name not in data:
                if f.default is dataclasses.MISSING:
                    raise ValueError(f"missing field {name!r}")
                continue
            if data[name] is None and f.default is not None:  # null only stands for an optional field's default
                raise ValueError(f"field {name!r} must not be null")
            kwargs[name] = _validate_field(name, data[name], f.metadata["schema"])
        block = cls(**kwargs)
        block.check()
        return block


def _validate_field(name: str, value: Any, schema: Any) -> Any:
    """``value`` checked against ``schema``; ``ValueError`` names the field and the value."""
    if value is None:
        return None
    if schema == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"field {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(schema, tuple):
        if value not in schema:
            raise ValueError(f"field {name!r} must be one of {list(schema)}, got {value!r}")
        return value
    if schema in ("pos", "nonneg"):
        if isinstance(value, bool) or not isinstance(value, int):  # bool is an int to Python, not to JSON
            raise ValueError(f"field {name!r} must be an integer, got {value!r}")
        if value < (1 if schema == "pos" else 0):
            raise ValueError(f"field {name!r} must be {'positive' if schema == 'pos' else '>= 0'}, got {value}")
        return value
    if schema == "posf":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"field {name!r} must be a number, got {value!r}")
        if value <= 0:
            raise ValueError(f"field {name!r} must be positive, got {value}")
        return float(value)
    raise AssertionError(f"unknown schema {schema!r}")


def block_from_dict(data: Any) -> Block:
    """Build a block from its JSON object; raises ``ValueError`` with the problem."""
    if not isinstance(data, dict):
        raise ValueError(f"a block must be a JSON object, got {type(data).__name__}")
    # Files repeat the same blocks many times, so parsing is memoised. The key carries each value's
    # type so that true, 1 and 1.0 (equal and hash-equal in Python) are still validated separately.
    key = (tuple(data.items()), tuple(map(type, data.values())))
    try:
        hash(key)
    except TypeError:  # a list or object among the values: invalid anyway, report it uncached
        return _block_from_dict(data)
    return _block_from_key(key)


@lru_cache(maxsize=1 << 16)
def _block_from_key(key: tuple[tuple[tuple[str, Any], ...], tuple[type, ...]]) -> Block:
    return _block_from_dict(dict(key[0]))


def _block_from_dict(data: dict[str, Any]) -> Block:
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in BLOCK_TYPES:
        raise ValueError(f"unknown block type {kind!r} (known: {sorted(BLOCK_TYPES)})")
    return BLOCK_TYPES[kind].from_dict(data)
