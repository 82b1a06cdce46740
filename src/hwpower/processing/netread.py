"""Reading ``nets_*.json`` fast: each distinct block parsed once, the file's text checked as a whole.

Networks of one search space share a few hundred distinct blocks (450 in 5,000 OFA networks), so a
file is decoded with msgspec into networks whose blocks stay raw JSON text; each distinct block text is
then parsed and validated once. msgspec, like every fast JSON parser, keeps the last of two equal keys,
so the fast path also re-emits the file in the canonical layout of
:func:`hwpower.networks.jsonio.dumps_networks` from what it decoded and compares the bytes: equal bytes
mean there was nothing a stricter parser would object to outside the blocks (no repeated network id or
field, no unusual layout). Anything else, and any error, goes to the checking parser,
:func:`hwpower.networks.parse_networks`, which names the file, network and block of the problem.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from ..errors import InputError
from ..networks import Block, GraphNetwork, Network, block_from_dict, parse_networks
from ..networks.jsonio import canonical_network_head
from ..networks.network import INPUT_CHANNELS


class _NetText(msgspec.Struct, forbid_unknown_fields=True):
    """One network as the fast path reads it: its blocks array kept as raw JSON text."""

    blocks: msgspec.Raw
    input_resolution: int | None = None
    name: str | None = None


_DECODER = msgspec.json.Decoder(dict[str, _NetText])


class _Unusual(Exception):
    """Something the fast path does not handle: the checking parser reads the file instead."""


@dataclass
class NetworkSet:
    """All networks of a raw folder, keyed ``STEM/ID``, in file then id order."""

    keys: list[str] = field(default_factory=list)
    networks: list[Network | GraphNetwork] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)
    net_ids: list[int] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    distinct: dict[Block, int] = field(default_factory=dict)  # each distinct block -> its number
    block_ids: list[list[int]] = field(default_factory=list)  # per network, the numbers of its blocks (none for graphs)
    _index: dict[str, int] = field(default_factory=dict)
    _by_id: dict[int, int] = field(default_factory=dict)

    def add_file(self, path: Path) -> None:
        nets, ids, digest = read_nets_fast(path, self.distinct)
        self.hashes[path.name] = digest
        for (net_id, net), block_ids in zip(nets.items(), ids):
            self.add_network(f"{path.stem}/{net_id}", net, source_file=path.name, net_id=net_id, block_ids=block_ids)

    def add_network(self, key: str, net: Network | GraphNetwork, *, source_file: str = "", net_id: int = 0,
                    block_ids: list[int] | None = None) -> None:
        """Add one network (e.g. networks not read from a file, for features at prediction time)."""
        if key in self._index:
            raise InputError(f"network key {key!r} added twice", file=source_file or None)
        if block_ids is None:
            block_ids = [self.distinct.setdefault(b, len(self.distinct)) for b in _blocks(net)]
        self._index[key] = len(self.keys)
        self.keys.append(key)
        self.networks.append(net)
        self.source_files.append(source_file)
        self.net_ids.append(net_id)
        self.block_ids.append(block_ids)

    def resolve(self, stem: str | None, net_id: int) -> int:
        """Index of the network ``stem/net_id`` (or of id ``net_id`` when the raw column has no stem)."""
        if stem is not None:
            return self._index.get(f"{stem}/{net_id}", -1)
        if not self._by_id:
            self._build_id_index()
        return self._by_id.get(net_id, -1)

    def _build_id_index(self) -> None:
        """Ids alone name networks across files only if a repeated id means the same network."""
        for i, (net_id, net) in enumerate(zip(self.net_ids, self.networks)):
            j = self._by_id.setdefault(net_id, i)
            if j != i and not _same(net, self.networks[j]):
                raise InputError(f"duplicate network key {net_id}: {self.keys[j]} and {self.keys[i]} differ, so the "
                                 "samples' network id is ambiguous", file=self.source_files[i], where=f"network {net_id}")


def _blocks(net: Network | GraphNetwork) -> tuple[Block, ...]:
    return () if isinstance(net, GraphNetwork) else net.blocks


def _same(a: Network | GraphNetwork, b: Network | GraphNetwork) -> bool:
    if isinstance(a, GraphNetwork) or isinstance(b, GraphNetwork):
        return type(a) is type(b) and (a.ops, a.inputs) == (b.ops, b.inputs)
    return (a.blocks, a.input_resolution) == (b.blocks, b.input_resolution)


def read_nets_fast(path: Path, distinct: dict[Block, int] | None = None) -> tuple[dict[int, Network | GraphNetwork],
                                                                                list[list[int]], str]:
    """Read a nets file, building each distinct block once; returns the networks, per network the
    numbers of its blocks in ``distinct`` (extended in place) and the file's sha256."""
    distinct = {} if distinct is None else distinct
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    digest = hashlib.sha256(raw).hexdigest()
    before = len(distinct)
    try:
        return *_read_fast(raw, distinct), digest
    except (_Unusual, msgspec.DecodeError, ValueError, TypeError, KeyError, AttributeError):
        for block in list(distinct)[before:]:  # forget what the failed attempt added
            del distinct[block]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 (byte 0x{raw[exc.start]:02x})", file=str(path), where=f"line {line}") from None
    nets = parse_networks(text, file=str(path))  # raises the precise error; block and graph networks
    ids = [[distinct.setdefault(b, len(distinct)) for b in _blocks(net)] for net in nets.values()]
    return nets, ids, digest


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Unusual("repeated key in a block")
    return out


_OPEN, _SEP, _CLOSE = b"[\n   ", b",\n   ", b"\n  ]"  # a blocks array as dumps_networks writes it


def _read_fast(raw: bytes, distinct: dict[Block, int]) -> tuple[dict[int, Network], list[list[int]]]:
    data = _DECODER.decode(raw)
    if not data:
        raise _Unusual("no networks")
    cache: dict[bytes, int] = {}  # block text -> its number in ``distinct``
    order = list(distinct)  # the distinct blocks by number
    keys, all_ids = [], []
    at = _expect(raw, 0, b"{\n")
    for n, (key, value) in enumerate(data.items()):
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
            raise _Unusual("unusual id")
        if value.input_resolution is None or value.input_resolution < 1:
            raise _Unusual("no or bad input_resolution")  # the checking parser derives or reports it
        text = bytes(value.blocks)
        if not (text.startswith(_OPEN) and text.endswith(_CLOSE)) or len(text) <= len(_OPEN) + len(_CLOSE):
            raise _Unusual("blocks not one per line")
        # One block per line: split on the separator. A separator inside a block (never in this layout)
        # would cut that block into pieces that are not JSON objects: the checking parser then reads the file.
        texts = text[len(_OPEN): -len(_CLOSE)].split(_SEP)
        ids = list(map(cache.get, texts))
        if None in ids:
            ids = [i if i is not None else _parse_block(t, cache, distinct, order) for i, t in zip(ids, texts)]
        keys.append(key)
        all_ids.append(ids)
        # The file must be exactly what dumps_networks writes for what was decoded: compared in place
        head = (f'"input_resolution": {value.input_resolution}' if value.name is None
                else canonical_network_head(value.input_resolution, value.name))
        at = _expect(raw, at, b'%s "%s": {%s, "blocks": ' % (b",\n" if n else b"", key.encode(), head.encode()))
        at = _expect(raw, _expect(raw, at, text), b"}")
    if _expect(raw, at, b"\n}\n") != len(raw):
        raise _Unusual("not in the canonical layout")
    values = list(data.values())
    _check_chains(order, all_ids, [v.input_resolution for v in values])
    nets = {int(k): Network(tuple(map(order.__getitem__, ids)), v.input_resolution, v.name)
            for k, ids, v in zip(keys, all_ids, values)}
    return nets, all_ids


def _expect(raw: bytes, at: int, text: bytes) -> int:
    """Where ``text`` ends if ``raw`` holds it at ``at`` (compared in place, no copy)."""
    if not raw.startswith(text, at):
        raise _Unusual("not in the canonical layout")
    return at + len(text)


def _parse_block(text: bytes, cache: dict[bytes, int], distinct: dict[Block, int], order: list[Block]) -> int:
    block = block_from_dict(json.loads(text, object_pairs_hook=_unique_pairs))
    number = distinct.setdefault(block, len(distinct))
    if number == len(order):
        order.append(block)
    cache[text] = number
    return number


def _check_chains(order: list[Block], all_ids: list[list[int]], resolutions: list[int]) -> None:
    """``Network.build``'s check, for every network at once: each block takes the previous block's
    output (the network's input for the first) unless the block accepts another shape."""
    shapes_in = np.array([b.in_shape for b in order], dtype=np.int64).reshape(-1, 2)
    shapes_out = np.array([b.out_shape for b in order], dtype=np.int64).reshape(-1, 2)
    occ = np.fromiter(itertools.chain.from_iterable(all_ids), dtype=np.int64)
    lengths = np.fromiter(map(len, all_ids), dtype=np.int64, count=len(all_ids))
    prev = np.empty((len(occ), 2), dtype=np.int64)
    prev[1:] = shapes_out[occ[:-1]]
    first = np.cumsum(lengths) - lengths
    prev[first, 0] = INPUT_CHANNELS
    prev[first, 1] = resolutions
    for i in np.flatnonzero((prev != shapes_in[occ]).any(axis=1)):  # rare: a block that adapts
        if not order[occ[i]].accepts(tuple(prev[i].tolist())):
            raise _Unusual("shape mismatch")
