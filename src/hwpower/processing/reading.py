"""Reading the train/val shards in a pipeline of background threads, while the networks are read.

Stage one reads, hashes and parses each shard (hashlib and pyarrow's CSV parse release the GIL);
stage two checks it and encodes its targets (numpy, mostly without the GIL) while stage one parses the
next; the calling thread meanwhile reads the networks (pure Python). Only the network column's check,
which needs the networks, runs in the calling thread, file by file in order, so the first bad file or
line reported is the one a sequential reading would report.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .integrity import (RAW_MANIFEST, Finding, ShardInfo, check_folder, check_hardware, check_networks, check_repeats,
                        check_shards, check_val_rows, listed_files, read_raw_manifest, report)
from .targets import encode_tables, encode_targets
from .checks import CheckedFile, SampleChecks, check_samples
from .hashspill import HashSpill
from .shardstats import shard_stats
from .samples import Parsed, RawFile, Reject, Resolver, load_raw, parse_samples, read_bytes
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
    shards: list[ShardInfo] = field(default_factory=list)  # each file's summary, in order


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


class ShardQueue:
    """The shards on the two stages (one worker each: shards pass in order, one schema is inferred from
    the first), at most ``ahead`` shards queued beyond the one being finished, so memory holds a few
    shards whatever their number. Iterating yields each shard's stage-two future, in order."""

    def __init__(self, loader: ThreadPoolExecutor, checker: ThreadPoolExecutor, sample_files: list[tuple[str, Path]],
                 schema: DatasetSchema | None, skip_bad_rows: bool, ahead: int = 2, ray: Any = None):
        """``ray``: an initialised ``ray`` module: the shards after the first are read, parsed and checked
        (all but the network column) as Ray tasks, two per CPU of the cluster at a time, their bytes sent
        from here; their targets are still encoded here, in order, so the files equal a local run's."""
        self.loader, self.checker, self.files, self.skip = loader, checker, sample_files, skip_bad_rows
        self.storage, self.ahead, self.next = _Storage(), ahead, 1
        self.first = loader.submit(_load_first, *sample_files[0], schema, skip_bad_rows)
        self.pending: deque[tuple[Future, Future]] = deque([(self.first, checker.submit(_check, self.first, self.storage))])
        self.remote = None
        if ray is not None:  # tasks are queued once iterating starts (they need the first shard's schema)
            self.remote = ray.remote(_prepare_remote)
            self.ahead = max(ahead, 2 * int(ray.cluster_resources().get("CPU", 1)))
        else:
            self._fill()

    def _fill(self) -> None:
        while len(self.pending) <= self.ahead and self.next < len(self.files):
            role, path = self.files[self.next]
            if self.remote is not None:
                head: _Prepared = self.first.result()
                load = self.remote.remote(role, path, read_bytes(path), head.schema, head.raw.header,
                                          head.raw.path.name, self.skip).future()
            else:
                load = self.loader.submit(_load_next, role, path, self.first, self.skip)
            self.pending.append((load, self.checker.submit(_check, load, self.storage)))
            self.next += 1

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Future]:
        self._fill()
        while self.pending:
            _, checked = self.pending.popleft()
            self._fill()
            yield checked

    def cancel(self) -> None:
        """After an error: parse no more shards."""
        self.next = len(self.files)
        for load, checked in self.pending:
            load.cancel()
            checked.cancel()


def _check(load: Future, storage: _Storage) -> _Prepared:
    p: _Prepared | _Failed = load.result()
    if isinstance(p, _Failed):
        raise InputError(p.problem, file=p.file, where=p.where)
    if p.checks is None:  # not checked by a Ray task
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
    _same_columns(raw, head.raw.header, head.raw.path.name)
    return _Prepared(role, raw, head.schema, None, parse_samples(raw, head.schema))


def _same_columns(raw: RawFile, header: list[str], first_name: str) -> None:
    if set(raw.header) != set(header):
        a, b = set(raw.header), set(header)
        raise InputError(f"columns differ from {first_name}: missing {sorted(b - a)}, extra "
                         f"{sorted(a - b)}", file=str(raw.path), where="line 1")


@dataclass(frozen=True)
class _Failed:
    """An :class:`InputError` of a Ray task, returned rather than raised (so it comes back as it was)."""

    problem: str
    file: str | None
    where: str | None


def _prepare_remote(role: str, path: Path, data: bytes, schema: DatasetSchema, header: list[str], first_name: str,
                    skip_bad_rows: bool) -> _Prepared | _Failed:
    """A Ray task: one shard read from ``data``, parsed and checked but for its network column."""
    try:
        raw = load_raw(path, schema.separator, skip_bad_rows=skip_bad_rows, data=data)
        _same_columns(raw, header, first_name)
        p = _Prepared(role, raw, schema, None, parse_samples(raw, schema))
        p.checks, p.parsed = SampleChecks(raw, schema, p.parsed).run_local(), None
        return p
    except InputError as exc:
        return _Failed(exc.problem, exc.file, exc.where)


def check_all(prepared: ShardQueue, resolve: Resolver, skip_bad_rows: bool, advance: Callable[[str], None],
              on_checked: Callable[[str, CheckedFile, DatasetSchema], None] | None = None, *, strict: bool = False,
              require_val: bool = True, nets: Any = None, keep: bool = True,
              spill: HashSpill | None = None) -> SampleResult:
    """Check the shards' network columns in order; the first bad line raises unless ``skip_bad_rows``.
    ``on_checked(role, file, schema)`` sees each file when done (and writes it); without ``keep`` the
    rows are then let go (``files`` hold no columns, every file's targets stored alike, ``storage`` theirs)
    and only their :class:`~.shardstats.ShardStats` are kept. ``spill``: each file's row hashes are written
    there once it is checked and let go (else kept in its stats until the folder checks).
    Then the folder as a whole (:mod:`.integrity`: the generator's manifest, validation rows, repeated
    rows, plausibility of hardware values and of ``nets``, a NetworkSet): errors raise, findings warn
    (the first raises with ``strict``)."""
    out: SampleResult | None = None
    cache: dict[str, int] = {}  # network value -> row of the networks table, shared by the files
    shards: list[ShardInfo] = []
    findings: list[Finding] | None = None
    for future in prepared:
        p: _Prepared = future.result()
        if findings is None:  # the folder's own checks first: a missing shard is named before any row
            folder = p.raw.path.parent
            listed = listed_files(read_raw_manifest(folder), folder)
            findings = check_folder(folder, [*folder.glob("train_*.txt"), *folder.glob("val_*.txt")], listed)
        out = out or SampleResult(p.schema)
        done = check_samples(p.raw, p.schema, resolve, skip_bad_rows=skip_bad_rows, checks=p.checks, cache=cache)
        if on_checked is not None:
            on_checked(p.role, done, p.schema)
        stats = shard_stats(done, p.schema)
        if spill is not None:  # the duplicate and overlap checks read them back bucket by bucket
            spill.add(p.role, stats.hashes)
            stats.hashes = None
        if not keep:  # written: keep what the checks and the manifest need
            out.storage = done.storage or {}
            done = CheckedFile({}, None, done.storage, done.rejects)
        out.files[p.role].append(done)
        out.rejects += done.rejects
        p.raw.hash()  # done by stage two, unless the file was re-read here
        out.sources.append({"file": p.raw.path.name, "role": p.role, "sha256": p.raw.sha256,
                            "rows": stats.rows, "rejects": len(done.rejects)})
        unended = p.raw.data.count(b"\n") if p.raw.ends_without_newline else 0
        shards.append(ShardInfo(p.role, p.raw.path, stats, len(done.rejects), p.raw.sha256, unended))
        p.raw.data, p.checks = b"", None  # the text and the raw parse are no longer needed: free them now
        advance(p.raw.path.name)
    assert out is not None and findings is not None  # find_raw_files guarantees a train file
    out.shards = shards
    _check_folder(out, shards, findings, listed, folder, strict=strict, require_val=require_val, nets=nets,
                  spill=spill)
    if keep:
        _settle_storage(out)
    return out


def _check_folder(out: SampleResult, shards: list[ShardInfo], findings: list[Finding],
                  listed: dict[str, dict], folder: Path, *, strict: bool, require_val: bool, nets: Any,
                  spill: HashSpill | None = None) -> None:
    findings = findings + check_shards(shards, listed, folder / RAW_MANIFEST)
    if require_val:
        check_val_rows(shards, folder)
    findings += check_repeats(shards, spill)
    findings += check_hardware(shards, out.schema.numeric_names)
    if nets is not None:
        findings += check_networks(nets.networks, nets.keys, nets.source_files)
    report(findings, strict)


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
