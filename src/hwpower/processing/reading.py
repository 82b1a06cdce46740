"""Reading the train/val shards in a pipeline of background threads, while the networks are read.

Stage one reads, hashes and parses each shard (hashlib and pyarrow's CSV parse release the GIL);
stage two checks it and encodes its targets (numpy, mostly without the GIL) while stage one parses the
next; the calling thread meanwhile reads the networks (pure Python). Only the network column's check,
which needs the networks, runs in the calling thread, file by file in order, so the first bad file or
line reported is the one a sequential reading would report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from . import integrity
from .decimal import encode_tables, encode_targets
from .checks import CheckedFile, SampleChecks, check_samples
from .samples import Parsed, RawFile, Reject, Resolver, load_raw, parse_samples
from .schema import DatasetSchema, infer_schema

log = logging.getLogger(__name__)


@dataclass
class _Prepared:
    role: str
    raw: RawFile
    schema: DatasetSchema
    checks: SampleChecks | None  # every check but the network column's, done (stage two)
    parsed: Parsed | None = None  # from stage one until stage two checks it


@dataclass
class SampleResult:
    """Every shard checked: the schema used, per role the checked files, their targets as stored under
    one ``storage`` (set by :func:`_settle_storage`), rejects, one source entry per file."""

    schema: DatasetSchema
    files: dict[str, list[CheckedFile]] = field(default_factory=lambda: {"train": [], "val": []})
    stored: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=lambda: {"train": [], "val": []})
    storage: dict[str, dict] = field(default_factory=dict)

    @property
    def parts(self) -> dict[str, list[dict[str, np.ndarray]]]:
        """Per role, each file's checked columns."""
        return {role: [f.columns for f in files] for role, files in self.files.items()}
    rejects: list[Reject] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)


class _Storage:
    """The targets' storage, chosen on the first clean shard and imposed on the next ones (the reading
    thread handles shards in order, so the choice is deterministic); a shard it cannot hold, or one with
    bad rows, is encoded after the checks instead (:func:`_settle_storage`)."""

    def __init__(self) -> None:
        self.chosen: dict[str, dict] | None = None

    def encode(self, checks: SampleChecks) -> None:
        if checks.found or not checks.n:
            return  # bad rows are dropped first; then the shard is encoded with the others
        targets = {t.name: checks.columns[t.name] for t in checks.schema.targets}
        try:
            checks.stored, checks.storage = encode_targets(targets, checks.schema.relations, storage=self.chosen)
        except ValueError:
            return  # does not fit the storage of the shards before: settled after the checks
        self.chosen = self.chosen or checks.storage


def start_reading(loader: ThreadPoolExecutor, checker: ThreadPoolExecutor, sample_files: list[tuple[str, Path]],
                  schema: DatasetSchema | None, skip_bad_rows: bool) -> list[Future]:
    """Queue every shard on the two stages (one worker each: shards pass in order, one schema is
    inferred from the first); returns every future, the checked ones last, one per shard."""
    storage = _Storage()
    first = loader.submit(_load_first, *sample_files[0], schema, skip_bad_rows)
    loads = [first] + [loader.submit(_load_next, role, path, first, skip_bad_rows) for role, path in sample_files[1:]]
    return loads + [checker.submit(_check, load, storage) for load in loads]


def _check(load: Future, storage: _Storage) -> _Prepared:
    p: _Prepared = load.result()
    p.checks = SampleChecks(p.raw, p.schema, p.parsed).run_local()
    p.parsed = None
    storage.encode(p.checks)
    p.raw.hash()
    return p


def _load_first(role: str, path: Path, schema: DatasetSchema | None, skip_bad_rows: bool) -> _Prepared:
    raw = load_raw(path, schema.separator if schema else None, skip_bad_rows=skip_bad_rows)
    if schema is None:
        schema = infer_schema(raw.header, _sniffed(raw), _first_value(raw), file=str(path))
        log.info("%s", schema.describe())
    schema.check_header(raw.header, file=str(path))
    return _Prepared(role, raw, schema, None, parse_samples(raw, schema))


def _load_next(role: str, path: Path, first: Future, skip_bad_rows: bool) -> _Prepared:
    head = first.result()  # done already: the stage has one worker
    raw = load_raw(path, head.schema.separator, skip_bad_rows=skip_bad_rows)
    if set(raw.header) != set(head.raw.header):
        a, b = set(raw.header), set(head.raw.header)
        raise InputError(f"columns differ from {head.raw.path.name}: missing {sorted(b - a)}, extra "
                         f"{sorted(a - b)}", file=str(path), where="line 1")
    return _Prepared(role, raw, head.schema, None, parse_samples(raw, head.schema))


def check_all(prepared: list[Future], resolve: Resolver, skip_bad_rows: bool, advance: Callable[[str], None],
              on_checked: Callable[[str, CheckedFile, DatasetSchema], None] | None = None, *, strict: bool = False,
              require_val: bool = True, nets: Any = None) -> SampleResult:
    """Check the shards' network columns in order (``prepared`` from :func:`start_reading`); the first
    bad line raises unless ``skip_bad_rows``. ``on_checked(role, file, schema)`` sees each file when done.
    Then the folder as a whole (:mod:`.integrity`: the generator's manifest, validation rows, repeated
    rows, plausibility of hardware values and of ``nets``, a NetworkSet): errors raise, findings warn
    (the first raises with ``strict``)."""
    out: SampleResult | None = None
    cache: dict[str, int] = {}  # network value -> row of the networks table, shared by the files
    shards: list[integrity.ShardInfo] = []
    findings: list[integrity.Finding] | None = None
    for future in prepared[len(prepared) // 2:]:
        p: _Prepared = future.result()
        if findings is None:  # the folder's own checks first: a missing shard is named before any row
            folder = p.raw.path.parent
            listed = integrity.listed_files(integrity.read_raw_manifest(folder), folder)
            findings = integrity.check_folder(folder, [*folder.glob("train_*.txt"), *folder.glob("val_*.txt")], listed)
        out = out or SampleResult(p.schema)
        done = check_samples(p.raw, p.schema, resolve, skip_bad_rows=skip_bad_rows, checks=p.checks, cache=cache)
        if on_checked is not None:
            on_checked(p.role, done, p.schema)
        out.files[p.role].append(done)
        out.rejects += done.rejects
        p.raw.hash()  # done by stage two, unless the file was re-read here
        out.sources.append({"file": p.raw.path.name, "role": p.role, "sha256": p.raw.sha256,
                            "rows": len(done.columns["network"]), "rejects": len(done.rejects)})
        unended = p.raw.data.count(b"\n") if p.raw.ends_without_newline else 0
        shards.append(integrity.ShardInfo(p.role, p.raw.path, done, p.raw.sha256, unended))
        p.raw.data, p.checks = b"", None  # the text and the raw parse are no longer needed: free them now
        advance(p.raw.path.name)
    assert out is not None and findings is not None  # find_raw_files guarantees a train file
    _check_folder(out, shards, findings, listed, folder, strict=strict, require_val=require_val, nets=nets)
    _settle_storage(out)
    return out


def _check_folder(out: SampleResult, shards: list[integrity.ShardInfo], findings: list[integrity.Finding],
                  listed: dict[str, dict], folder: Path, *, strict: bool, require_val: bool, nets: Any) -> None:
    findings = findings + integrity.check_shards(shards, listed, folder / integrity.RAW_MANIFEST)
    if require_val:
        integrity.check_val_rows(shards, folder)
    names = [*out.schema.numeric_names, *out.schema.categorical_values, "network", *(t.name for t in out.schema.targets)]
    findings += integrity.check_repeats(shards, names)
    findings += integrity.check_hardware(shards, out.schema.numeric_names)
    if nets is not None:
        findings += integrity.check_networks(nets.networks, nets.keys, nets.source_files)
    integrity.report(findings, strict)


def _settle_storage(out: SampleResult) -> None:
    """One storage for every shard: the one chosen while reading when every shard was encoded with it,
    else one chosen over all shards now (after bad rows were dropped)."""
    files = [(role, f) for role in ("train", "val") for f in out.files[role]]
    if files and all(f.stored is not None and f.storage == files[0][1].storage for _, f in files):
        out.storage = files[0][1].storage
        arrays = [f.stored for _, f in files]
    else:
        names = [t.name for t in out.schema.targets]
        tables = [{n: f.columns[n] for n in names} for _, f in files]
        arrays, out.storage = encode_tables(tables or [{n: np.empty(0) for n in names}], out.schema.relations)
    for (role, _), stored in zip(files, arrays):
        out.stored[role].append(stored)


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
