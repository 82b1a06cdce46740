"""Reading the train/val shards: text read, hashed and parsed in a background thread, checked here.

pyarrow's CSV parse and hashlib release the GIL, so a single background thread reads and parses the
shards, in order, while the calling thread reads the networks (pure Python); the checks, which need
the networks to resolve keys, then run in the calling thread, file by file, in the same order as
before, so the first bad file or line reported is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import InputError
from .samples import RawFile, Reject, Resolver, load_raw, parse_samples, read_samples
from .schema import DatasetSchema, infer_schema

log = logging.getLogger(__name__)


@dataclass
class _Prepared:
    role: str
    raw: RawFile
    schema: DatasetSchema
    parsed: Any  # samples._Parsed


@dataclass
class SampleResult:
    """Every shard checked: the schema used, tables per role, rejects and one source entry per file."""

    schema: DatasetSchema
    parts: dict[str, list[pa.Table]] = field(default_factory=lambda: {"train": [], "val": []})
    rejects: list[Reject] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)


def start_reading(pool: ThreadPoolExecutor, sample_files: list[tuple[str, Path]], schema: DatasetSchema | None,
                  skip_bad_rows: bool) -> list[Future]:
    """Queue every shard on ``pool`` (one worker: shards are read in order, one schema inferred first)."""
    first = pool.submit(_prepare_first, *sample_files[0], schema, skip_bad_rows)
    rest = [pool.submit(_prepare_next, role, path, first, skip_bad_rows) for role, path in sample_files[1:]]
    return [first, *rest]


def _prepare_first(role: str, path: Path, schema: DatasetSchema | None, skip_bad_rows: bool) -> _Prepared:
    raw = load_raw(path, schema.separator if schema else None, skip_bad_rows=skip_bad_rows)
    if schema is None:
        schema = infer_schema(raw.header, _sniffed(raw), _first_value(raw), file=str(path))
        log.info("%s", schema.describe())
    schema.check_header(raw.header, file=str(path))
    return _Prepared(role, raw, schema, parse_samples(raw, schema))


def _prepare_next(role: str, path: Path, first: Future, skip_bad_rows: bool) -> _Prepared:
    head = first.result()  # done already: the pool has one worker
    raw = load_raw(path, head.schema.separator, skip_bad_rows=skip_bad_rows)
    if set(raw.header) != set(head.raw.header):
        a, b = set(raw.header), set(head.raw.header)
        raise InputError(f"columns differ from {head.raw.path.name}: missing {sorted(b - a)}, extra "
                         f"{sorted(a - b)}", file=str(path), where="line 1")
    return _Prepared(role, raw, head.schema, parse_samples(raw, head.schema))


def check_all(prepared: list[Future], resolve: Resolver, skip_bad_rows: bool,
              advance: Callable[[str], None]) -> SampleResult:
    """Check the parsed shards in order; the first bad line raises unless ``skip_bad_rows``."""
    out: SampleResult | None = None
    for future in prepared:
        p: _Prepared = future.result()
        out = out or SampleResult(p.schema)
        table, bad = read_samples(p.raw, p.schema, resolve, skip_bad_rows=skip_bad_rows, parsed=p.parsed)
        out.parts[p.role].append(table)
        out.rejects += bad
        out.sources.append({"file": p.raw.path.name, "role": p.role, "sha256": p.raw.sha256,
                            "rows": table.num_rows, "rejects": len(bad)})
        p.raw.data, p.parsed = b"", None  # the text and the raw parse are no longer needed: free them now
        advance(p.raw.path.name)
    assert out is not None  # find_raw_files guarantees a train file
    return out


def _sniffed(raw: RawFile) -> str:
    first = raw.data[: raw.data.find(b"\n")]
    return "," if b"," in first else ";" if b";" in first else " "


def _first_value(raw: RawFile) -> str | None:
    start = raw.data.find(b"\n") + 1
    sep = _sniffed(raw)
    values = raw.data[start: raw.data.find(b"\n", start)].rstrip(b"\r").decode("utf-8", "replace")
    values = values.split() if sep == " " else values.split(sep)
    idx = raw.header.index("network") if "network" in raw.header else None
    return values[idx].strip() if idx is not None and idx < len(values) else None
