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
from .network import Network


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def parse_networks(text: str, *, file: str = "<string>") -> dict[int, Network]:
    """Parse the text of a nets file; raises :class:`InputError` naming file, id and block."""
    if not text.strip():
        raise InputError("empty file: expected a JSON object mapping network ids to networks", file=file)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise InputError(f"duplicate key {exc.key!r} (network ids must be unique)", file=file) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", file=file, where=f"line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object mapping network ids to networks, got {type(data).__name__}", file=file)
    if not data:
        raise InputError("no networks in file", file=file)
    nets: dict[int, Network] = {}
    for key, value in data.items():
        try:
            net_id = int(key)
        except ValueError:
            raise InputError(f"network id {key!r} is not an integer", file=file) from None
        if net_id < 0 or str(net_id) != key.strip():
            raise InputError(f"network id {key!r} must be a non-negative integer written plainly", file=file)
        if net_id in nets:
            raise InputError(f"duplicate network id {net_id}", file=file)
        try:
            nets[net_id] = Network.from_dict(value)
        except ValueError as exc:
            raise InputError(str(exc), file=file, where=f"network {net_id}") from None
    return nets


def read_networks(path: str | os.PathLike[str]) -> dict[int, Network]:
    """Read a nets file: ``{"17": {"input_resolution": 224, "blocks": [...]}, ...}``."""
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


def dumps_networks(nets: dict[int, Network]) -> str:
    """One block per line: readable, diffable, and compact enough for thousands of networks."""
    parts = []
    for k in sorted(nets):
        d = nets[k].to_dict()
        head = ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in d.items() if key != "blocks")
        blocks = ",\n   ".join(json.dumps(b) for b in d["blocks"])
        parts.append(f' "{k}": {{{head}, "blocks": [\n   {blocks}\n  ]}}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_networks(path: str | os.PathLike[str], nets: dict[int, Network]) -> None:
    """Write atomically (temporary name, then rename); ids in increasing order."""
    write_text_atomic(path, dumps_networks(nets))
