"""Checking one parsed sample file: vectorised checks, the first reason per bad row, rejects.

Every check that needs no networks runs in the reading pipeline's second stage; the network column's
check runs once the networks are read (:func:`check_samples`). Only when something is wrong do we take
slower paths (re-reading as text, splitting lines) to name the line and the problem: either raising at
the first bad line, or setting bad rows aside as rejects (file, line, reason, raw text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .samples import Parsed, RawFile, Reject, Resolver, needs_normalizing, normalize_padding, parse_samples
from .schema import DatasetSchema


def _dictionary(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """A word column's distinct values and each row's index into them."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if column.num_chunks == 0:
        return [], np.empty(0, dtype=np.int32)
    column = column.unify_dictionaries()  # the parser encodes each block of text on its own
    idx = [c.indices.to_numpy(zero_copy_only=False) for c in column.chunks]
    return column.chunk(0).dictionary.to_pylist(), idx[0] if len(idx) == 1 else np.concatenate(idx)


class SampleChecks:
    """One parsed file under check: every check that needs no networks runs first (in the reading
    thread, while the networks are read), the network column's check after. The first reason per bad
    row follows the order of the checks, whichever ran first."""

    NETWORK_ORDER = 2  # after hardware checks, before target checks: as they appear in a row

    def __init__(self, raw: RawFile, schema: DatasetSchema, parsed: Parsed):
        self.raw, self.schema, self.parsed = raw, schema, parsed
        self.n = parsed.table.num_rows
        self.found: list[tuple[int, int, np.ndarray, Callable[[int], str]]] = []  # (order, seq, mask, why)
        self.columns: dict[str, np.ndarray] = {}
        self.stored: dict[str, np.ndarray] | None = None  # the targets as stored, when encoded while reading
        self.storage: dict[str, dict] | None = None  # ... and the storage they were encoded with
        self.lines = self._row_lines()

    def _row_lines(self) -> np.ndarray:
        all_lines = np.arange(2, self.n + len(self.parsed.invalid_lines) + 2)
        if self.parsed.invalid_lines:
            all_lines = all_lines[~np.isin(all_lines, list(self.parsed.invalid_lines))]
        return all_lines

    def flag(self, mask: np.ndarray, describe: Callable[[int], str], order: int) -> None:
        if mask.any():
            self.found.append((order, len(self.found), mask, describe))

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

    def run_local(self) -> SampleChecks:
        """Every check but the network column's; fills ``columns`` (categoricals as codes)."""
        if self.parsed.text_cols is not None:
            empty = np.ones(self.n, dtype=bool)
            for s in self.schema.sources:
                empty &= pc.equal(self.parsed.table[s], "").to_numpy(zero_copy_only=False)
            self.flag(empty, lambda i: "empty line", 0)
        for col in self.schema.numeric:
            self.columns[col.name] = self._check_numeric(col)
        for cat in self.schema.categorical:
            self.columns[cat.name] = self._categorical(cat)
        for t in self.schema.targets:
            v = self._floats(t.source)
            if not ((v >= 0) & (v < np.inf)).all():  # one pass when all is well; then the reasons
                self.flag(~np.isfinite(v), lambda i, s=t.source: f"column {s!r}: {self._text(s, i)} is not a number "
                          "(NaN)" if self._text(s, i).lower() == "'nan'" else f"column {s!r}: {self._text(s, i)} is not a "
                          "number", 3)
                what = "power" if t.unit == "W" else "value"
                self.flag(v < 0, lambda i, s=t.source, w=what: f"column {s!r}: negative {w} {self._text(s, i)}", 3)
            self.columns[t.name] = v
        self._power_sum()
        self._energy_product()
        return self

    def _check_numeric(self, col) -> np.ndarray:
        v = self._floats(col.source)
        if v.dtype.kind == "i":  # parsed as integers: finite and whole already
            if col.positive and not v.min(initial=1) > 0:
                self.flag(~(v > 0), lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} must be positive", 1)
            return v
        good = (v > 0) & (v < np.inf) if col.positive else np.isfinite(v)
        if not good.all():  # one pass when all is well; then the reasons
            self.flag(~np.isfinite(v), lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} is not a number", 1)
            if col.positive:
                self.flag(~(v > 0), lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} must be positive", 1)
        if col.dtype == "int":  # read as text (some value was not an integer literal)
            whole = np.round(v)
            self.flag(np.isfinite(v) & (v != whole),
                      lambda i, s=col.source: f"column {s!r}: {self._text(s, i)} is not an integer", 1)
            v = np.where(np.isfinite(v), whole, 0).astype(np.int64)
        return v

    def _categorical(self, cat) -> np.ndarray:
        """Codes into the allowed values (int8; -1 for a value not allowed, flagged)."""
        words, idx = _dictionary(self.parsed.table[cat.source])
        allowed = {str(v): i for i, v in enumerate(cat.values)}
        codes = np.array([allowed.get(w, -1) for w in words], dtype=np.int8)[idx]
        self.flag(codes < 0, lambda i, s=cat.source: f"column {s!r}: {self._text(s, i)} is not one of "
                                                     f"{list(cat.values)}", 1)
        return codes

    def run_network(self, resolve: Resolver, cache: dict[str, int] | None = None) -> SampleChecks:
        """Normalise the network column (the seed's step 2): each distinct value is resolved once
        (``cache``, shared by the files of a run, remembers the values resolved before)."""
        src = self.schema.network_source
        words, idx = _dictionary(self.parsed.table[src])
        pattern = re.compile(self.schema.network_pattern)
        cache = {} if cache is None else cache
        lut = [cache.get(w) for w in words]
        why = {}
        for j, word in enumerate(words):
            if lut[j] is not None:
                continue
            m = pattern.match(word)
            key = -1 if m is None else resolve(m.groupdict().get("stem"), int(m.group("id")))
            lut[j] = cache[word] = key
        for j, key in enumerate(lut):
            if key < 0:
                why[j] = (f"network {words[j]!r} does not match the pattern {self.schema.network_pattern}"
                          if pattern.match(words[j]) is None else f"unknown network {words[j]!r} (not in any nets file)")
        mapped = np.asarray(lut, dtype=np.int32)[idx]
        self.flag(mapped < 0, lambda i: why[int(idx[i])], self.NETWORK_ORDER)
        self.columns["network"] = mapped
        return self

    def _power_sum(self) -> None:
        ps = self.schema.power_sum
        if ps is None:
            return
        total = self.columns[ps.total]
        parts = sum(self.columns[p] for p in ps.parts)
        bad = np.abs(total - parts) > ps.atol_w + ps.rtol * np.abs(total)

        def describe(i: int) -> str:
            return (f"{ps.total} = {total[i]:.6g} W disagrees with {' + '.join(ps.parts)} = {parts[i]:.6g} W "
                    f"(tolerance {ps.atol_w:g} W + {ps.rtol:g} x |{ps.total}|)")

        self.flag(bad, describe, 4)

    def _energy_product(self) -> None:
        ep = self.schema.energy_product
        if ep is None:
            return
        total = self.columns[ep.total]
        product = self.columns[ep.factors[0]] * self.columns[ep.factors[1]]
        bad = np.abs(total - product) > ep.atol_mj + ep.rtol * np.abs(total)

        def describe(i: int) -> str:
            return (f"{ep.total} = {total[i]:.6g} mJ disagrees with {' x '.join(ep.factors)} = {product[i]:.6g} mJ "
                    f"(tolerance {ep.atol_mj:g} mJ + {ep.rtol:g} x |{ep.total}|)")

        self.flag(bad, describe, 4)

    @property
    def any_bad(self) -> bool:
        return bool(self.found or self.parsed.invalid_lines)

    def finish(self, skip_bad_rows: bool) -> CheckedFile:
        """The checked columns (bad rows dropped) and the rejects; without ``skip_bad_rows`` the first
        bad line raises."""
        path = str(self.raw.path)
        reason = np.full(self.n, -1, dtype=np.int32)
        whys = []
        for _, _, mask, describe in sorted(self.found, key=lambda f: f[:2]):
            new = mask & (reason < 0)
            reason[new] = len(whys)
            whys.append(describe)
        bad_rows = np.flatnonzero(reason >= 0)
        found = {int(self.lines[i]): whys[reason[i]](int(i)) for i in bad_rows}
        found.update(self.parsed.invalid_lines)
        pre = {r.line for r in self.raw.pre_rejects}
        found = {line: why for line, why in found.items() if line not in pre}
        if found and not skip_bad_rows:
            line = min(found)
            raise InputError(found[line], file=path, where=f"line {line}")
        texts = _line_texts(self.raw.data, sorted(found))
        rejects = self.raw.pre_rejects + [Reject(path, ln, found[ln], texts[ln]) for ln in sorted(found)]
        out, stored, lines = self.columns, self.stored, None if not self.parsed.invalid_lines else self.lines
        if len(bad_rows):
            keep = reason < 0
            out = {k: v[keep] for k, v in out.items()}
            stored = {k: v[keep] for k, v in stored.items()} if stored is not None else None
            lines = self.lines[keep]
        return CheckedFile(out, stored, self.storage if stored is not None else None, rejects, lines)


@dataclass
class CheckedFile:
    """One sample file, checked: its columns (``network`` as int32 indices into the networks table,
    categoricals as codes into their allowed values, targets float64), its targets as stored when they
    were encoded while reading (else None), its rejected rows and where its kept rows are."""

    columns: dict[str, np.ndarray]
    stored: dict[str, np.ndarray] | None
    storage: dict[str, dict] | None
    rejects: list[Reject]
    lines: np.ndarray | None = None  # each kept row's line in the file; None: row i is on line i + 2

    def line(self, row: int) -> int:
        return int(self.lines[row]) if self.lines is not None else row + 2


def check_samples(raw: RawFile, schema: DatasetSchema, resolve: Resolver, *, skip_bad_rows: bool,
                  checks: SampleChecks | None = None, cache: dict[str, int] | None = None) -> CheckedFile:
    """Finish checking one file (``checks`` from :meth:`SampleChecks.run_local`, or parsed and checked
    here); without ``skip_bad_rows`` the first bad line raises."""
    if checks is None:
        checks = SampleChecks(raw, schema, parse_samples(raw, schema)).run_local()
    checks.run_network(resolve, cache)
    # Optimistic: our own files are single-spaced, so padding is looked for (and removed) only when
    # something looks wrong; padding makes a line split wrongly or a value fail a check.
    if not raw.normalized and checks.any_bad:
        raw.normalized = True
        if needs_normalizing(raw.data, raw.separator):
            raw.data = normalize_padding(raw.data, raw.separator)
            return check_samples(raw, schema, resolve, skip_bad_rows=skip_bad_rows)
    return checks.finish(skip_bad_rows)


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
