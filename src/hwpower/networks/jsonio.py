"""Read and write ``nets_*.json``: a JSON object mapping network ids (integers) to networks.

Every problem is reported with the file, the network id and the block index.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import write_text_atomic
from .graph import GraphNetwork
from .network import Network

AnyNetwork = Network | GraphNetwork


def network_from_dict(data: Any) -> AnyNetwork:
    """A network's JSON value: an operator graph (``ops``) or a block sequence (``blocks``, or a
    bare list of blocks)."""
    if isinstance(data, dict) and "ops" in data:
        return GraphNetwork.from_dict(data)
    return Network.from_dict(data)


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs, so a duplicate key is reported where it is."""


class _DuplicateKey(Exception):
    """Raised by the fast parse on a duplicate key; the slow parse then says where it is."""


def _unique_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _plain(value: Any, where: str = "") -> Any:
    """Turn parsed pairs into dicts, raising ``ValueError`` on a duplicate key."""
    if isinstance(value, _Pairs):
        out: dict[str, Any] = {}
        for key, item in value:
            if key in out:
                raise ValueError(f"{where}duplicate key {key!r}")
            out[key] = _plain(item, where)
        return out
    if isinstance(value, list):
        return [_plain(item, where) for item in value]
    return value


def _network_data(value: Any) -> Any:
    """A network's JSON value as plain data; a duplicate key inside a block names the block."""
    if not isinstance(value, _Pairs):  # checked first: _Pairs is a list too
        if isinstance(value, list):
            return [_plain(b, f"block {i}: ") for i, b in enumerate(value)]
        return value
    out = _plain(_Pairs((k, v) for k, v in value if k != "blocks"))
    blocks = [v for k, v in value if k == "blocks"]
    if len(blocks) > 1:
        raise ValueError("duplicate key 'blocks'")
    if blocks:
        out["blocks"] = _network_data(blocks[0]) if not isinstance(blocks[0], _Pairs) else _plain(blocks[0])
    return out


def _net_id(key: str, file: str) -> int:
    # Plain ASCII digits only: int() would also accept " 7", "+7", "0_7" or non-ASCII digits.
    if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
        raise InputError(f"network id {key!r} must be a non-negative integer written plainly", file=file)
    return int(key)


def parse_networks(text: str, *, file: str = "<string>") -> dict[int, AnyNetwork]:
    """Parse the text of a nets file; raises :class:`InputError` naming file, id and block."""
    if not text.strip():
        raise InputError("empty file: expected a JSON object mapping network ids to networks", file=file)
    try:
        try:  # fast path: plain dicts; files with a duplicate key are parsed again to say where
            data, pairs = json.loads(text, object_pairs_hook=_unique_dict), False
        except _DuplicateKey:
            data, pairs = json.loads(text, object_pairs_hook=_Pairs), True
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(f"malformed JSON: {exc.msg}", file=file, where=where) from None
    if not isinstance(data, _Pairs if pairs else dict):
        raise InputError("expected a JSON object mapping network ids to networks, "
                         f"got {type(data).__name__}", file=file)
    if not data:
        raise InputError("no networks in file", file=file)
    nets: dict[int, AnyNetwork] = {}
    for key, value in data if pairs else data.items():
        net_id = _net_id(key, file)
        if net_id in nets:
            raise InputError(f"duplicate network id {net_id}", file=file, where=f"network {net_id}")
        try:
            nets[net_id] = network_from_dict(_network_data(value) if pairs else value)
        except ValueError as exc:
            raise InputError(str(exc), file=file, where=f"network {net_id}") from None
    return nets


def read_networks(path: str | os.PathLike[str]) -> dict[int, AnyNetwork]:
    """Read a nets file: ``{"17": {"input_resolution": 224, "blocks": [...]}, "18": {"inputs": ..., "ops": [...]}}``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", file=str(path),
                         where=f"line {line}") from None
    return parse_networks(text, file=str(path))


def canonical_network_head(input_resolution: int, name: str | None) -> str:
    """A network's fields before its blocks, as :func:`dumps_networks` writes them (the fast reader of
    ``hwpower process`` re-emits files with it to check they are in exactly this layout)."""
    head = {"input_resolution": input_resolution, **({"name": name} if name is not None else {})}
    return ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in head.items())


def _dumps_graph(net: GraphNetwork) -> str:
    head = net.to_dict()
    ops = ",\n   ".join(json.dumps(op.to_dict()) for op in net.ops)
    fields = ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in head.items() if key != "ops")
    return f"{{{fields}, \"ops\": [\n   {ops}\n  ]}}"


def dumps_networks(nets: dict[int, AnyNetwork]) -> str:
    """One block (or operator) per line: readable, diffable, and compact enough for thousands of networks."""
    parts = []
    for k in sorted(nets):
        net = nets[k]
        if isinstance(net, GraphNetwork):
            parts.append(f' "{k}": {_dumps_graph(net)}')
            continue
        blocks = ",\n   ".join(json.dumps(b.to_dict()) for b in net.blocks)
        parts.append(f' "{k}": {{{canonical_network_head(net.input_resolution, net.name)}, "blocks": [\n   {blocks}\n  ]}}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_networks(path: str | os.PathLike[str], nets: dict[int, AnyNetwork]) -> None:
    """Write atomically (temporary name, then rename); ids in increasing order."""
    write_text_atomic(path, dumps_networks(nets))
