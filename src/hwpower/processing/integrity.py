"""Checks on a raw folder as a whole, after every shard was read and checked row by row:

- the generator's ``manifest.json``: every shard it lists is present, with the rows it lists;
- shards hwpower would not read (``train_0.txt.gz``) are refused by name, never skipped;
- validation rows exist;
- a last line without its newline (a file cut short, perhaps inside its last number);
- duplicate rows, and validation rows repeated in training (by row hashes spilled to disk, bucket by
  bucket: :mod:`.hashspill`);
- hardware values and networks outside the plausible bounds of :mod:`hwpower.plausibility`.

Errors raise :class:`InputError` naming the file and line. Findings that may be deliberate are
:class:`Finding` s: warnings, or errors with ``strict`` (``hwpower process --strict``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..plausibility import HARDWARE_BOUNDS, hardware_value_warning, network_warnings, warn
from .hashspill import HashSpill
from .shardstats import ShardStats

COMPRESSED = (".gz", ".zst", ".zstd", ".bz2", ".xz", ".zip", ".7z", ".lz4")
RAW_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Finding:
    """Something suspicious but possibly deliberate: a warning, an error under ``--strict``."""

    problem: str
    file: str | None = None
    where: str | None = None

    def text(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        return f"{': '.join(parts)}: {self.problem}" if parts else self.problem


@dataclass
class ShardInfo:
    """What the folder checks need of one checked shard."""

    role: str
    path: Path
    stats: ShardStats  # its rows were written and let go: what the checks need of them
    rejects: int
    sha256: str
    last_line_unended: int  # the line number of a last line without newline, else 0

    @property
    def rows_read(self) -> int:
        return self.stats.rows + self.rejects


def read_raw_manifest(raw_dir: Path) -> dict[str, Any] | None:
    """The generator's manifest of the raw folder, or None when there is none."""
    path = raw_dir / RAW_MANIFEST
    return read_json_object(path) if path.is_file() else None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file (a BOM allowed); every failure an :class:`InputError` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason})", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", file=str(path), where=f"line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=str(path))
    return data


def listed_files(manifest: dict[str, Any] | None, raw_dir: Path) -> dict[str, dict[str, Any]]:
    """The shards a manifest lists (``files``: name -> {rows, sha256}); {} without such a list."""
    if manifest is None or "files" not in manifest:
        return {}
    files = manifest["files"]
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise InputError("'files' must map shard names to {rows, sha256}", file=str(raw_dir / RAW_MANIFEST),
                         where="files")
    return files


def check_folder(raw_dir: Path, found: Sequence[Path], listed: dict[str, dict[str, Any]]) -> list[Finding]:
    """Refuse compressed shards and shards the manifest lists but the folder lacks; other files named
    like shards that are not read are findings."""
    names = {p.name for p in found}
    findings = []
    for path in sorted(raw_dir.iterdir()):
        if not path.name.startswith(("train_", "val_")) or path.name in names:
            continue
        if path.name.lower().endswith(COMPRESSED):
            raise InputError("compressed shard: hwpower reads plain train_*.txt / val_*.txt only; decompress it "
                             f"(e.g. `gunzip -k` or `zstd -d`) and run again", file=str(path))
        findings.append(Finding("named like a shard but not read (only train_*.txt and val_*.txt are)", file=str(path)))
    for name in sorted(listed):
        if name not in names and name.startswith(("train_", "val_")):
            raise InputError(f"shard listed in {RAW_MANIFEST} ({listed[name].get('rows', '?')} rows) is missing: "
                             "the folder is incomplete; copy it again or run `hwpower generate` again",
                             file=str(raw_dir / name))
    return findings


def check_shards(shards: list[ShardInfo], listed: dict[str, dict[str, Any]], manifest_path: Path) -> list[Finding]:
    """Each shard against the manifest's row count and checksum, and its last line's newline."""
    findings = []
    for s in shards:
        entry = listed.get(s.path.name)
        if entry is not None and "rows" in entry and s.rows_read != entry["rows"]:
            raise InputError(f"{s.rows_read} rows, but {manifest_path.name} lists {entry['rows']}: the shard is "
                             "incomplete or was changed", file=str(s.path))
        changed = entry is not None and entry.get("sha256") not in (None, s.sha256)
        if s.last_line_unended and changed:
            raise InputError(f"the last line has no newline and the file differs from the one {manifest_path.name} "
                             "lists (sha256): the file was cut short, perhaps inside its last number",
                             file=str(s.path), where=f"line {s.last_line_unended}")
        if s.last_line_unended and entry is None:
            findings.append(Finding("the last line has no newline: if the file was cut short, its last value may be "
                                    "cut too (hwpower generate ends every line)", file=str(s.path),
                                    where=f"line {s.last_line_unended}"))
        elif changed:
            findings.append(Finding(f"differs from the file {manifest_path.name} lists (sha256): edited since it was "
                                    "generated", file=str(s.path)))
    return findings


def check_val_rows(shards: list[ShardInfo], raw_dir: Path) -> None:
    val = [s for s in shards if s.role == "val"]
    if not val:
        raise InputError("no val_*.txt files: validation rows are needed to train and evaluate a predictor "
                         "(hwpower generate writes them)", file=str(raw_dir))
    if not any(s.stats.rows for s in val):
        raise InputError("no validation rows left: every row of the val_*.txt files was rejected",
                         file=str(val[0].path))


class _Locator:
    """Row number over the concatenated shards of a role -> (shard, its line)."""

    def __init__(self, shards: list[ShardInfo]):
        self.shards = shards
        self.starts = np.cumsum([0] + [s.stats.rows for s in shards])

    def __call__(self, i: int) -> tuple[ShardInfo, int]:
        k = int(np.searchsorted(self.starts, i, side="right") - 1)
        return self.shards[k], self.shards[k].stats.line(i - int(self.starts[k]))


def check_repeats(shards: list[ShardInfo], spill: HashSpill | None = None) -> list[Finding]:
    """Identical rows (every column the schema reads) within a split, and validation rows that
    repeat a training row; found by a 64-bit hash of each row, bucket by bucket on disk
    (:class:`.hashspill.HashSpill`). ``spill``: every shard's hashes, added in the order of ``shards``;
    None: the hashes are in the shards' stats (spilled here)."""
    if spill is None:
        with HashSpill() as own:
            for s in shards:
                own.add(s.role, s.stats.hashes)
            return check_repeats(shards, own)
    by_role = {r: [s for s in shards if s.role == r] for r in ("train", "val")}
    for role, listed in by_role.items():
        assert spill.shard_rows(role) == [s.stats.rows for s in listed], "the spill holds other shards"
    where = {r: _Locator(by_role[r]) for r in by_role}
    found = spill.repeats()
    findings = []
    for role in by_role:
        if found[role].count:
            (a, la), (b, lb) = where[role](found[role].first), where[role](found[role].earlier)
            findings.append(Finding(f"{found[role].count} duplicate {role} rows; the first repeats {b.path.name} "
                                    f"line {lb}", file=str(a.path), where=f"line {la}"))
    overlap = found["val_in_train"]
    if overlap.count:
        (a, la), (b, lb) = where["val"](overlap.first), where["train"](overlap.earlier)
        findings.append(Finding(f"{overlap.count} validation rows repeat training rows (validation would not "
                                f"measure unseen data); the first repeats {b.path.name} line {lb}",
                                file=str(a.path), where=f"line {la}"))
    return findings


def check_hardware(shards: list[ShardInfo], numeric: list[str]) -> list[Finding]:
    """Hardware values outside :data:`hwpower.plausibility.HARDWARE_BOUNDS`: the first, and how many."""
    findings = []
    for name in (n for n in numeric if n in HARDWARE_BOUNDS):
        bad = [(s, s.stats.outside[name]) for s in shards if name in s.stats.outside]
        if not bad:
            continue
        count = sum(found[0] for _, found in bad)
        s, (_, row, value) = bad[0]
        more = f"and {count - 1} more rows" if count > 1 else ""
        findings.append(Finding(hardware_value_warning(name, value, more) or "", file=str(s.path),
                                where=f"line {s.stats.line(row)}"))
    return findings


def check_networks(networks: Sequence[Any], keys: Sequence[str], files: Sequence[str]) -> list[Finding]:
    return [Finding(w, file=f or None) for net, key, f in zip(networks, keys, files) for w in network_warnings(net, key)]


def report(findings: list[Finding], strict: bool) -> None:
    """Warn about each finding; with ``strict`` the first is an error (how many more is said)."""
    if strict and findings:
        first = findings[0]
        more = f" (and {len(findings) - 1} more findings)" if len(findings) > 1 else ""
        raise InputError(f"{first.problem}{more}; an error under --strict", file=first.file, where=first.where)
    for f in findings:
        warn(f.text())
