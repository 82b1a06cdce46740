"""Reading one raw sample file (``train_*.txt`` / ``val_*.txt``) into a validated Arrow table.

The fast path parses with pyarrow's CSV reader straight into typed columns and validates with
vectorised checks. Only when something is wrong do we take slower paths (re-reading as text, splitting
lines) to name the line and the problem: either raising at the first bad line, or setting bad rows
aside as rejects (file, line, reason, raw text).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import InputError
from .schema import DatasetSchema

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
    sha256: str
    separator: str
    pre_rejects: list[Reject] = field(default_factory=list)
    normalized: bool = False


def load_raw(path: Path, separator: str | None, *, skip_bad_rows: bool) -> RawFile:
    """Read, hash and check a sample file; ``separator`` None means sniff it from the header."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    digest = hashlib.sha256(raw).hexdigest()
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
    return RawFile(path, raw, header, digest, separator, pre_rejects)


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


def _normalize(raw: bytes, sep: str) -> bytes:
    """Remove padding pyarrow would keep: runs of whitespace when the separator is whitespace,
    spaces around other separators, spaces at line starts and ends. Copies only when needed."""
    if not _needs_normalizing(raw, sep):
        return raw  # the usual case: our own files are already single-spaced
    raw = _EDGE_SPACE.sub(b"", raw)
    if sep == " ":
        return _SPACE_RUN.sub(b" ", raw)
    return re.sub(rb"[ \t]*" + re.escape(sep.encode()) + rb"[ \t]*", sep.encode(), raw)


def _needs_normalizing(raw: bytes, sep: str) -> bool:
    """One vectorised pass (``bytes.find`` of two-byte needles is several times slower on large files)."""
    if (sep == " " and b"\t" in raw) or raw[:1] in (b" ", b"\t"):
        return True
    a = np.frombuffer(raw, dtype=np.uint8)
    pad = (a == 32) | (a == 9)
    edge = (a == 10) | (a == 13) | (pad if sep == " " else a == ord(sep))
    return bool((pad[1:] & edge[:-1]).any() or (pad[:-1] & edge[1:]).any())


@dataclass
class _Parsed:
    table: pa.Table
    text_cols: dict[str, pa.ChunkedArray] | None  # raw strings, only on the slow path
    invalid_lines: dict[int, str]  # line -> problem, for lines pyarrow could not split


def _parse(raw: RawFile, schema: DatasetSchema, as_text: bool) -> _Parsed:
    invalid: list[tuple[int, int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.expected_columns, row.actual_columns, row.text))
        return "skip"

    types = {s: pa.string() for s in schema.sources}
    if not as_text:
        types.update({c.source: pa.float64() for c in (*schema.numeric, *schema.targets)})
    table = pacsv.read_csv(
        pa.py_buffer(raw.data),
        read_options=pacsv.ReadOptions(column_names=raw.header, skip_rows=1),
        parse_options=pacsv.ParseOptions(delimiter=schema.separator, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=schema.sources, column_types=types, null_values=[],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    lines = _locate_invalid(raw.data, invalid) if invalid else {}
    return _Parsed(table, {s: table[s] for s in schema.sources} if as_text else None, lines)


def _locate_invalid(data: bytes, invalid: list[tuple[int, int, str]]) -> dict[int, str]:
    """pyarrow reports rows it cannot split by text only (no number when multithreaded): find their lines."""
    wanted: dict[str, str] = {text: f"expected {exp} columns, got {got}" for exp, got, text in invalid}
    out = {}
    for i, line in enumerate(data.decode("utf-8").split("\n")[1:], start=2):
        line = line.rstrip("\r")
        if line in wanted and line.strip():
            out[i] = wanted[line]
    return out


def parse_samples(raw: RawFile, schema: DatasetSchema) -> _Parsed:
    """pyarrow's typed parse of one file (no Python per row; releases the GIL): the part of
    :func:`read_samples` that needs no networks, so it can run in a background thread."""
    try:
        return _parse(raw, schema, as_text=False)
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc):
            raise InputError(f"cannot parse: {exc}", file=str(raw.path)) from None
        return _parse(raw, schema, as_text=True)  # a bad value somewhere: find it row by row


def read_samples(raw: RawFile, schema: DatasetSchema, resolve: Resolver, *, skip_bad_rows: bool,
                 parsed: _Parsed | None = None) -> tuple[pa.Table, list[Reject]]:
    """Parse (unless ``parsed`` by :func:`parse_samples`) and validate one file. Returns the processed
    columns (``network`` as int32 indices into the networks table) and the rejected rows; without
    ``skip_bad_rows`` the first bad line raises."""
    parsed = parsed if parsed is not None else parse_samples(raw, schema)
    checker = _Checker(raw, schema, parsed)
    out = checker.run(resolve)
    # Optimistic: our own files are single-spaced, so padding is looked for (and removed) only when
    # something looks wrong; padding makes a line split wrongly or a value fail a check.
    if not raw.normalized and (parsed.invalid_lines or (checker.reason >= 0).any()):
        raw.normalized = True
        if _needs_normalizing(raw.data, raw.separator):
            raw.data = _normalize(raw.data, raw.separator)
            return read_samples(raw, schema, resolve, skip_bad_rows=skip_bad_rows)
    return checker.finish(out, skip_bad_rows)


class _Checker:
    """Vectorised checks of one parsed file; remembers the first reason per bad row."""

    def __init__(self, raw: RawFile, schema: DatasetSchema, parsed: _Parsed):
        self.raw, self.schema, self.parsed = raw, schema, parsed
        self.n = parsed.table.num_rows
        self.reason = np.full(self.n, -1, dtype=np.int32)  # index into self.reasons, -1 = good
        self.reasons: list[Callable[[int], str]] = []
        self.lines = self._row_lines()

    def _row_lines(self) -> np.ndarray:
        all_lines = np.arange(2, self.n + len(self.parsed.invalid_lines) + 2)
        if self.parsed.invalid_lines:
            all_lines = all_lines[~np.isin(all_lines, list(self.parsed.invalid_lines))]
        return all_lines

    def flag(self, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        new = mask & (self.reason < 0)
        if new.any():
            self.reasons.append(describe)
            self.reason[new] = len(self.reasons) - 1

    def _text(self, source: str, i: int) -> str:
        cols = self.parsed.text_cols
        if cols is not None:
            return repr(cols[source][i].as_py())
        value = self.parsed.table[source][i].as_py()
        return repr(value if isinstance(value, str) else format(value, ".10g"))  # close to the text it came from

    def _floats(self, source: str) -> np.ndarray:
        col = self.parsed.table[source]
        if self.parsed.text_cols is None:
            return col.to_numpy()
        return pd.to_numeric(col.to_pandas(), errors="coerce").to_numpy(dtype=np.float64)

    def run(self, resolve: Resolver) -> dict[str, np.ndarray | pa.Array]:
        if self.parsed.text_cols is not None:
            empty = np.ones(self.n, dtype=bool)
            for s in self.schema.sources:
                empty &= pc.equal(self.parsed.table[s], "").to_numpy(zero_copy_only=False)
            self.flag(empty, lambda i: "empty line")
        out: dict[str, np.ndarray | pa.Array] = {}
        for col in self.schema.numeric:
            v = self._floats(col.source)
            self.flag(~np.isfinite(v), lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} is not a number")
            if col.positive:
                self.flag(~(v > 0), lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} must be positive")
            if col.dtype == "int":
                self.flag(np.isfinite(v) & (v != np.round(v)),
                          lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} is not an integer")
                v = np.where(np.isfinite(v), v, 0).astype(np.int64)
            out[col.name] = v
        for cat in self.schema.categorical:
            out[cat.name] = self._categorical(cat)
        out["network"] = self._network(resolve)
        for t in self.schema.targets:
            v = self._floats(t.source)
            self.flag(~np.isfinite(v), lambda i, s=t.source: f"column {s!r}: {self._text(s, i)} is not a number (NaN)"
                      if self._text(s, i).lower() == "'nan'" else f"column {s!r}: {self._text(s, i)} is not a number")
            what = "power" if t.unit == "W" else "value"
            self.flag(v < 0, lambda i, s=t.source, w=what: f"column {s!r}: negative {w} {self._text(s, i)}")
            out[t.name] = v
        self._power_sum(out)
        return out

    def _categorical(self, cat) -> pa.Array:
        enc = pc.dictionary_encode(self.parsed.table[cat.source]).combine_chunks()
        allowed = {str(v): v for v in cat.values}
        words = enc.dictionary.to_pylist()
        ok = np.array([w in allowed for w in words], dtype=bool)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        self.flag(~ok[idx], lambda i, s=cat.source: f"column {s!r}: {self._text(s, i)} is not one of "
                                                    f"{list(cat.values)}")
        values = [allowed.get(w, cat.values[0]) for w in words]
        return pa.array(np.asarray(values)[idx]) if isinstance(cat.values[0], int) else pc.take(pa.array(values), idx)

    def _network(self, resolve: Resolver) -> np.ndarray:
        """Normalise the network column (the seed's step 2): each distinct value is resolved once."""
        src = self.schema.network_source
        enc = pc.dictionary_encode(self.parsed.table[src]).combine_chunks()
        pattern = re.compile(self.schema.network_pattern)
        lut, why = [], {}
        for j, word in enumerate(enc.dictionary.to_pylist()):
            m = pattern.match(word)
            if m is None:
                lut.append(-1)
                why[j] = f"network {word!r} does not match the pattern {self.schema.network_pattern}"
                continue
            key = resolve(m.groupdict().get("stem"), int(m.group("id")))
            lut.append(key)
            if key < 0:
                why[j] = f"unknown network {word!r} (not in any nets file)"
        idx = enc.indices.to_numpy(zero_copy_only=False)
        mapped = np.asarray(lut, dtype=np.int32)[idx]
        self.flag(mapped < 0, lambda i: why[int(idx[i])])
        return mapped

    def _power_sum(self, out: dict) -> None:
        ps = self.schema.power_sum
        if ps is None:
            return
        total = out[ps.total]
        parts = sum(out[p] for p in ps.parts)
        bad = np.abs(total - parts) > ps.atol_w + ps.rtol * np.abs(total)

        def describe(i: int) -> str:
            return (f"{ps.total} = {total[i]:.6g} W disagrees with {' + '.join(ps.parts)} = {parts[i]:.6g} W "
                    f"(tolerance {ps.atol_w:g} W + {ps.rtol:g} x |{ps.total}|)")

        self.flag(bad, describe)

    def finish(self, out: dict, skip_bad_rows: bool) -> tuple[pa.Table, list[Reject]]:
        path = str(self.raw.path)
        bad_rows = np.flatnonzero(self.reason >= 0)
        found = {int(self.lines[i]): self.reasons[self.reason[i]](int(i)) for i in bad_rows}
        found.update(self.parsed.invalid_lines)
        pre = {r.line for r in self.raw.pre_rejects}
        found = {line: why for line, why in found.items() if line not in pre}
        if found and not skip_bad_rows:
            line = min(found)
            raise InputError(found[line], file=path, where=f"line {line}")
        texts = _line_texts(self.raw.data, sorted(found))
        rejects = self.raw.pre_rejects + [Reject(path, ln, found[ln], texts[ln]) for ln in sorted(found)]
        keep = self.reason < 0
        if not keep.all():
            out = {k: (v.filter(pa.array(keep)) if isinstance(v, pa.Array) else v[keep]) for k, v in out.items()}
        table = pa.table(out)
        return table, rejects


def _line_texts(data: bytes, lines: list[int]) -> dict[int, str]:
    if not lines:
        return {}
    starts = np.concatenate([[0], np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1])
    out = {}
    for ln in lines:
        a = starts[ln - 1]
        b = starts[ln] - 1 if ln < len(starts) else len(data)
        out[ln] = data[a:b].decode("utf-8", "backslashreplace").rstrip("\r")
    return out
