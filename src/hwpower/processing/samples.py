"""Reading one raw sample file (``train_*.txt`` / ``val_*.txt``): bytes, header, pyarrow's typed parse.

The fast path parses with pyarrow's CSV reader straight into typed columns (checked in
:mod:`.checks`). A value that does not convert sends the file to a parse as text, so that the checks
can name the line and the problem; padding and bad UTF-8 are dealt with here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError
from .schema import DatasetSchema

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark: stripped from the start of a file
BLOCK_BYTES = 1 << 25  # one block per shard of up to 32 MB: one chunk per column, read without copies

# A network resolver maps (stem or None, id) to an index into the networks table, or -1.
Resolver = Callable[[str | None, int], int]


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str
    text: str


@dataclass
class RawFile:
    """A raw sample file's bytes, normalised for pyarrow, with its header."""

    path: Path
    data: bytes  # bad UTF-8 lines blanked (skip mode); padding removed once found necessary
    header: list[str]
    original: bytes | None  # the file's bytes as read, until :meth:`hash` (often the same object as ``data``)
    separator: str
    pre_rejects: list[Reject] = field(default_factory=list)
    normalized: bool = False
    sha256: str = ""
    ends_without_newline: bool = False  # the last line has no newline: perhaps cut short (checked in .integrity)

    def hash(self) -> None:
        """sha256 of the file as read (separate from reading, so it can run while the next file parses)."""
        if self.original is not None:
            self.sha256, self.original = hashlib.sha256(self.original).hexdigest(), None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None


def load_raw(path: Path, separator: str | None, *, skip_bad_rows: bool, data: bytes | None = None) -> RawFile:
    """Read, hash and check a sample file; ``separator`` None means sniff it from the header.
    ``data``: the file's bytes, read already (a Ray worker gets them from the driver)."""
    raw = data if data is not None else read_bytes(path)
    original = raw
    if raw.startswith(BOM):  # editors on Windows write one; it would stick to the first column's name
        raw = raw[len(BOM):]
    no_newline = _ends_without_newline(raw)
    raw = _trim_end(raw)  # trailing blank lines are harmless; blank lines inside are not
    if not raw[:4096].strip() and not raw.strip():  # strip() copies: only for a file that starts blank
        raise InputError("empty file: expected a header line and sample rows", file=str(path))
    pre_rejects: list[Reject] = []
    if not raw.isascii():
        raw, pre_rejects = _check_utf8(raw, path, skip_bad_rows)
    header_end = raw.find(b"\n")  # slicing, not split(): no copy of the whole file
    first = raw[:header_end].rstrip(b"\r").decode("utf-8")
    if separator is None:
        separator = "," if "," in first else ";" if ";" in first else " "
    header = first.split() if separator == " " else [h.strip() for h in first.split(separator)]
    if header_end >= len(raw) - 1:
        raise InputError("no sample rows after the header", file=str(path), where="line 1")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or "" in header:
        raise InputError(f"header has repeated or empty column names {dupes or ['']}", file=str(path), where="line 1")
    return RawFile(path, raw, header, original, separator, pre_rejects, ends_without_newline=no_newline)


def _ends_without_newline(raw: bytes) -> bool:
    """Whether the last non-blank line lacks its newline (trailing spaces and tabs ignored)."""
    end = len(raw)
    while end and raw[end - 1] in b" \t\r":
        end -= 1
    return end > 0 and raw[end - 1] != 0x0A


def _trim_end(raw: bytes) -> bytes:
    """End the text with exactly one newline; copies only when there is something to trim."""
    end = len(raw)
    while end and raw[end - 1] in b" \t\r\n":
        end -= 1
    if raw[end:] in (b"\n", b"\r\n"):
        return raw
    return raw[:end] + b"\n"


def _check_utf8(raw: bytes, path: Path, skip: bool) -> tuple[bytes, list[Reject]]:
    try:
        raw.decode("utf-8")
        return raw, []
    except UnicodeDecodeError as exc:
        first_line = raw[: exc.start].count(b"\n") + 1
        if not skip or first_line == 1:
            raise InputError(f"not UTF-8 (byte 0x{raw[exc.start]:02x})", file=str(path),
                             where=f"line {first_line}") from None
    lines = raw.split(b"\n")
    rejects = []
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            rejects.append(Reject(str(path), i + 1, "not UTF-8", line.decode("utf-8", "backslashreplace")))
            lines[i] = b""  # keeps the line numbering; the empty row is dropped as already rejected
    return b"\n".join(lines), rejects


_EDGE_SPACE = re.compile(rb"^[ \t]+|[ \t]+(?=\r?$)", re.MULTILINE)
_SPACE_RUN = re.compile(rb"[ \t]+")


def normalize_padding(raw: bytes, sep: str) -> bytes:
    """Remove padding pyarrow would keep: runs of whitespace when the separator is whitespace,
    spaces around other separators, spaces at line starts and ends. Copies only when needed."""
    if not needs_normalizing(raw, sep):
        return raw  # the usual case: our own files are already single-spaced
    raw = _EDGE_SPACE.sub(b"", raw)
    if sep == " ":
        return _SPACE_RUN.sub(b" ", raw)
    return re.sub(rb"[ \t]*" + re.escape(sep.encode()) + rb"[ \t]*", sep.encode(), raw)


def needs_normalizing(raw: bytes, sep: str) -> bool:
    """One vectorised pass (``bytes.find`` of two-byte needles is several times slower on large files)."""
    if (sep == " " and b"\t" in raw) or raw[:1] in (b" ", b"\t"):
        return True
    a = np.frombuffer(raw, dtype=np.uint8)
    pad = (a == 32) | (a == 9)
    edge = (a == 10) | (a == 13) | (pad if sep == " " else a == ord(sep))
    return bool((pad[1:] & edge[:-1]).any() or (pad[:-1] & edge[1:]).any())


@dataclass
class Parsed:
    table: pa.Table
    text_cols: dict[str, pa.ChunkedArray] | None  # raw strings, only on the slow path
    invalid_lines: dict[int, str]  # line -> problem, for lines pyarrow could not split


def _parse(raw: RawFile, schema: DatasetSchema, as_text: bool) -> Parsed:
    invalid: list[tuple[int, int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.expected_columns, row.actual_columns, row.text))
        return "skip"

    types = {s: pa.string() for s in schema.sources}
    if not as_text:  # integer columns as integers: a value like "64.0" sends the file to the text path
        types.update({c.source: pa.int64() if getattr(c, "dtype", "") == "int" else pa.float64()
                      for c in (*schema.numeric, *schema.targets)})
        # words dictionary-encoded while parsing: no string array of a million keys, no second pass
        types.update({s: pa.dictionary(pa.int32(), pa.string()) for s in
                      (schema.network_source, *(c.source for c in schema.categorical))})
    table = pacsv.read_csv(
        pa.py_buffer(raw.data),
        read_options=pacsv.ReadOptions(column_names=raw.header, skip_rows=1, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=schema.separator, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=schema.sources, column_types=types, null_values=[],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    lines = _locate_invalid(raw.data, invalid) if invalid else {}
    return Parsed(table, {s: table[s] for s in schema.sources} if as_text else None, lines)


def _locate_invalid(data: bytes, invalid: list[tuple[int, int, str]]) -> dict[int, str]:
    """pyarrow reports rows it cannot split by text only (no number when multithreaded): find their lines."""
    wanted: dict[str, str] = {text: f"expected {exp} columns, got {got}" for exp, got, text in invalid}
    out = {}
    for i, line in enumerate(data.decode("utf-8").split("\n")[1:], start=2):
        line = line.rstrip("\r")
        if line in wanted and line.strip():
            out[i] = wanted[line]
    return out


def parse_samples(raw: RawFile, schema: DatasetSchema) -> Parsed:
    """pyarrow's typed parse of one file (no Python per row; releases the GIL): the part of
    :func:`read_samples` that needs no networks, so it can run in a background thread."""
    try:
        return _parse(raw, schema, as_text=False)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise InputError(f"cannot parse: {exc}", file=str(raw.path)) from None
        return _parse(raw, schema, as_text=True)  # a bad value somewhere: find it row by row
