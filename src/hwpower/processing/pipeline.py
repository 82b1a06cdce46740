"""``process``: raw folder (nets, train and val shards) -> the processed dataset (the seed's process_data)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import __version__
from ..errors import InputError
from ..io import atomic_dir, write_json_atomic
from .checks import CheckedFile
from .dataset import FORMAT_VERSION, MANIFEST, TABLES, ProcessedDataset
from .targets import encode_tables, encode_targets, stored_target_choice_text
from .features import expand, feature_definitions, network_parts, parts_from_tables
from .netread import NetworkSet
from .hashspill import HashSpill
from .integrity import read_raw_manifest
from .integrity import ShardInfo
from .reading import ShardQueue, check_all
from .samples import Reject
from .schema import DatasetSchema, load_schema, schema_from_manifest
from .shardstats import merged_range, network_rows
from .storage import SplitWriter, frame_columns, read_samples, samples_table, write_parts, write_samples, write_table

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "line", "reason", "text"]
SPILL_FOLDER = ".row-hashes"  # in the temporary output folder while the shards are checked (hashspill.py)


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def find_raw_files(raw_dir: Path) -> dict[str, list[Path]]:
    if not raw_dir.is_dir():
        raise InputError("not a folder", file=str(raw_dir))
    files = {role: sorted(raw_dir.glob(pattern), key=_natural)
             for role, pattern in (("nets", "nets_*.json"), ("train", "train_*.txt"), ("val", "val_*.txt"))}
    for role in ("nets", "train"):
        if not files[role]:
            raise InputError(f"no {role}_*.{'json' if role == 'nets' else 'txt'} files", file=str(raw_dir))
    return files


def process(raw_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
            schema: str | os.PathLike[str] | DatasetSchema | None = None, skip_bad_rows: bool = False,
            progress: bool = True, strict: bool = False, require_val: bool = True,
            ray_address: str | None = None) -> ProcessedDataset:
    """Process a raw folder into a :class:`ProcessedDataset`; write it atomically to ``out_dir`` if given.

    ``schema``: a schema TOML path or object; None infers it from the first train file's header
    (``ds.manifest["schema"]["inferred"]`` is then true). Without ``skip_bad_rows`` the first bad row
    raises :class:`InputError` naming file and line; with it, bad rows go to ``ds.rejects``. Folder
    checks (processing/integrity.py): no validation rows is an error unless ``require_val=False``;
    duplicates, overlap and implausible values warn, or raise with ``strict``. ``ray_address``
    (``local``, ``auto`` or a cluster's address): shards are read, parsed and checked as Ray tasks; the
    same files as a local run (docs/scale.md).
    """
    raw_dir = Path(raw_dir)
    if schema is not None and not isinstance(schema, DatasetSchema):
        schema = load_schema(schema)
    options = {"schema": schema, "skip_bad_rows": skip_bad_rows, "progress": progress, "strict": strict,
               "require_val": require_val}
    with contextlib.ExitStack() as stack:
        if ray_address is not None:
            from ..generate.cluster import ray_session

            options["ray"] = stack.enter_context(ray_session(ray_address))
        if out_dir is None:
            return _process(raw_dir, None, keep=True, **options)
        try:  # rows written shard by shard and let go: memory does not grow with them
            return _process(raw_dir, Path(out_dir), keep=False, **options)
        except _KeepRows:  # a shard could not be written like the ones before it: hold every row, as in memory
            log.info("a shard's targets need another storage than the first's (or rows were set aside): "
                     "processing again with every row in memory")
            return _process(raw_dir, Path(out_dir), keep=True, **options)


class _KeepRows(Exception):
    """Raised when a split cannot be written shard by shard (bad rows set aside, or a shard whose targets
    the first shard's storage cannot hold): the run is made again holding all rows."""


def _process(raw_dir: Path, out_dir: Path | None, *, keep: bool, schema: DatasetSchema | None, skip_bad_rows: bool,
             progress: bool, strict: bool, require_val: bool, ray: Any = None) -> ProcessedDataset:
    files = find_raw_files(raw_dir)
    sample_files = [("train", p) for p in files["train"]] + [("val", p) for p in files["val"]]
    # Exit order matters on errors: threads finish before the temporary output folder is removed.
    with _gc_paused(), _progress(progress) as bar, contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_dir(out_dir, command="process")) if out_dir is not None else None
        pools = [stack.enter_context(ThreadPoolExecutor(max_workers=1)) for _ in range(5)]
        # the rows' hashes on disk for the duplicate checks (inside the temporary output: gone before the
        # rename, and with it if the run is killed); left first, the threads never touch it
        spill = stack.enter_context(HashSpill(tmp / SPILL_FOLDER if tmp is not None else None))
        loader, checker, writer_pools = pools[0], pools[1], dict(zip(("train", "val", "other"), pools[2:]))
        task = bar.add_task("processing", total=len(files["nets"]) + len(sample_files) + 1)
        # Shards are read, parsed, checked and encoded in the background while the networks are read
        # and their features computed here: both cores busy.
        prepared = ShardQueue(loader, checker, sample_files, schema, skip_bad_rows, ray=ray)
        try:
            nets, sources = _read_nets(files["nets"], lambda name: (bar.update(task, description=f"read {name}"),
                                                                     bar.advance(task)))
            # the features in a worker, so this thread goes on to the shards' network checks
            parts_done = writer_pools["other"].submit(network_parts, nets)
            if tmp is not None:
                writes = [writer_pools["other"].submit(lambda: write_parts(parts_done.result(), tmp))]
                early = _EarlyWriter(tmp, writer_pools, nets.keys, strict=not keep)
            samples = check_all(prepared, nets.resolve, skip_bad_rows,
                                lambda name: (bar.update(task, description=f"checked {name}"), bar.advance(task)),
                                on_checked=early.add if tmp is not None else None, strict=strict,
                                require_val=require_val, nets=nets, keep=keep,
                                spill=spill)  # folder checks: processing/integrity.py
            spill.close()  # checked: its files go now, never into the output
            bar.update(task, description="network features")
            parts = parts_done.result()
            bar.advance(task)
        finally:
            prepared.cancel()  # after an error: do not parse the remaining shards
        schema, storage = samples.schema, samples.storage
        numeric, categorical = schema.numeric_names, schema.categorical_values
        # streamed (not keep): the rows were written and let go; only a split without files is left to write
        files = {r: (samples.parts[r] if keep else []) or [_no_rows(schema)] for r in ("train", "val")}
        stored = {r: (samples.stored[r] if keep else []) or [_no_stored(schema, storage)] for r in ("train", "val")}
        rejects = _rejects_frame(samples.rejects)
        if tmp is not None:
            writes.append(writer_pools["other"].submit(_write_rejects, rejects, tmp / "rejects.parquet"))
            for role in early.finish(storage):  # a split not written while reading (rare): all of it now
                writes.append(writer_pools[role].submit(_write_split, files[role], stored[role], numeric, categorical,
                                                        nets.keys, tmp / f"{role}.parquet", storage))
        key_type = parts.networks["network"].dtype
        if keep:
            frames = {r: partial(lambda r: {r: _samples_frame(files[r], schema, key_type)}, r) for r in ("train", "val")}
        else:  # read back from the output (its rows were let go)
            frames = {r: partial(lambda r: {r: _read_split(out_dir, r, schema, storage, key_type)}, r)
                      for r in ("train", "val")}
        # pandas tables only when asked for (the command line never needs them)
        ds = ProcessedDataset(rejects=rejects, parts=parts, builders={
            **frames, **dict.fromkeys(TABLES, lambda: dict(zip(TABLES, expand(parts))))})
        ds.manifest = _manifest(ds, samples.shards, schema, sources + samples.sources, raw_dir, storage)
        if tmp is not None:
            for done in writes:
                done.result()
            write_json_atomic(tmp / MANIFEST, ds.manifest)
    return ds


class _EarlyWriter:
    """Writes each split's files while the later shards are still being read, as long as every file
    came encoded with the storage of the first (almost always); otherwise the split is written whole
    at the end (``finish`` says which splits)."""

    def __init__(self, folder: Path, pools: dict[str, ThreadPoolExecutor], keys: list[str], *, strict: bool = False):
        """``strict``: a file that cannot be written with the others raises :class:`_KeepRows`."""
        self.folder, self.pools, self.keys, self.strict = folder, pools, keys, strict
        self.writers: dict[str, SplitWriter] = {}
        self.futures: dict[str, list[Future]] = {"train": [], "val": []}
        self.storage: dict[str, dict] | None = None
        self.broken = False

    def add(self, role: str, done: CheckedFile, schema: DatasetSchema) -> None:
        if self.broken or done.stored is None or (self.storage is not None and done.storage != self.storage):
            if self.strict:
                raise _KeepRows()
            self.broken = True  # written whole at the end
            return
        self.storage = self.storage or done.storage
        if role not in self.writers:
            self.writers[role] = SplitWriter(self.folder / f"{role}.parquet", schema.numeric_names,
                                             schema.categorical_values, self.keys)
        pending = self.futures[role]
        if len(pending) >= 2:  # at most two files of a split waiting to be written: memory stays bounded
            pending.pop(0).result()
        pending.append(self.pools[role].submit(self.writers[role].add, done.columns, done.stored, done.storage))

    def finish(self, storage: dict[str, dict]) -> list[str]:
        """Close the files; the splits still to write (all of them if the storage changed, or a split
        with no files)."""
        for role, futures in self.futures.items():
            for f in futures:
                f.result()
        wrote = {role: w.close() for role, w in self.writers.items()}
        if self.broken or storage != self.storage:
            return ["train", "val"]
        return [role for role in ("train", "val") if not wrote.get(role)]


def _read_nets(paths: list[Path], advance) -> tuple[NetworkSet, list[dict[str, Any]]]:
    nets, sources = NetworkSet(), []
    for path in paths:
        nets.add_file(path)
        sources.append({"file": path.name, "role": "nets", "sha256": nets.hashes[path.name]})
        advance(path.name)
    return nets, sources


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during a run: it makes ~100,000 containers (block-id lists,
    networks, per-file results) but no cycles, so collections only scan (5 % of the run's CPU time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rejects_frame(rejects: list[Reject]) -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series([r.file for r in rejects], dtype="str"),
                         "line": pd.Series([r.line for r in rejects], dtype="int64"),
                         "reason": pd.Series([r.reason for r in rejects], dtype="str"),
                         "text": pd.Series([r.text for r in rejects], dtype="str")})


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=True)


def _samples_frame(tables: list[dict[str, np.ndarray]], schema: DatasetSchema,
                   key_type: pd.CategoricalDtype) -> pd.DataFrame:
    """The checked columns of the files of one split, joined: numeric as parsed, categoricals and the
    network key as pandas categoricals (codes into the allowed words and into the networks table)."""
    cols: dict[str, Any] = {}
    for c in schema.numeric:
        cols[c.name] = _joined(tables, c.name, np.int64 if c.dtype == "int" else np.float64)
    for c in schema.categorical:  # integer values as int64 (e.g. bits), words as a categorical
        codes = _joined(tables, c.name, np.int8)
        cols[c.name] = (np.asarray(c.values, dtype=np.int64)[codes] if isinstance(c.values[0], int)
                        else pd.Categorical.from_codes(codes, categories=list(c.values)))
    cols["network"] = pd.Categorical.from_codes(_joined(tables, "network", np.int32), dtype=key_type)
    for t in schema.targets:
        cols[t.name] = _joined(tables, t.name, np.float64)
    return pd.DataFrame(cols, copy=False)  # fresh columns: no 2-D consolidation copy


def _joined(tables: list[dict[str, np.ndarray]], name: str, dtype: type) -> np.ndarray:
    if len(tables) == 1:
        return tables[0][name].astype(dtype, copy=False)
    return np.concatenate([t[name] for t in tables], dtype=dtype) if tables else np.empty(0, dtype=dtype)


def _no_rows(schema: DatasetSchema) -> dict[str, np.ndarray]:
    """The checked columns of a split without files (no val files): zero rows, the right types."""
    out = {c.name: np.empty(0, np.int64 if c.dtype == "int" else np.float64) for c in schema.numeric}
    out.update({c.name: np.empty(0, np.int8) for c in schema.categorical})
    out.update({"network": np.empty(0, np.int32), **{t.name: np.empty(0) for t in schema.targets}})
    return out


def _no_stored(schema: DatasetSchema, storage: dict[str, dict]) -> dict[str, np.ndarray]:
    return encode_targets({t.name: np.empty(0) for t in schema.targets}, [], storage=storage)[0]


def _write_split(files, stored, numeric, categorical, keys, path: Path, storage: dict[str, dict]) -> None:
    write_samples(samples_table(files, stored, numeric, categorical, keys), path, storage)


def _read_split(folder: Path, role: str, schema: DatasetSchema, storage: dict[str, dict],
                key_type: pd.CategoricalDtype) -> pd.DataFrame:
    """A split as :func:`.dataset.load_processed` reads it, from the finished output folder."""
    frame = read_samples(folder / f"{role}.parquet", [t.name for t in schema.targets], storage)
    frame["network"] = pd.Categorical(frame["network"], dtype=key_type)
    return frame


def _manifest(ds: ProcessedDataset, shards: list[ShardInfo], schema: DatasetSchema,
              sources: list[dict], raw_dir: Path, storage: dict[str, dict]) -> dict[str, Any]:
    parts = ds.parts
    n = len(parts.networks)
    stats = {r: [s.stats for s in shards if s.role == r] for r in ("train", "val")}
    per_network = {r: network_rows(stats[r], n) for r in stats}
    in_train, in_val = per_network["train"] > 0, per_network["val"] > 0
    rows = {r: sum(s.rows for s in stats[r]) for r in stats}
    unseen = int(per_network["val"][~in_train].sum())
    occ = parts.network_blocks["block_id"].to_numpy()
    layers_per_block = np.bincount(parts.unique_layers["block_id"].to_numpy(), minlength=len(parts.unique_blocks))
    cols = [c.name for c in (*schema.numeric, *schema.categorical, *schema.targets)]
    cats = schema.categorical_values
    return {
        "format": "hwpower-processed",
        "format_version": FORMAT_VERSION,
        "hwpower_version": __version__,
        "columns": {
            "hardware_numeric": schema.numeric_names,
            "hardware_categorical": {name: list(values) for name, values in cats.items()},
            "network": "network",
            "targets": [t.name for t in schema.targets],
        },
        "units": schema.units,
        "storage": {"targets": storage, "rule": stored_target_choice_text(),
                    "networks": "networks.parquet (one row per network), network_blocks.parquet (each network's "
                                "blocks as numbers into unique_blocks.parquet), unique_layers.parquet (the layers of "
                                "each distinct block), network_ops.parquet (each network's operators as numbers into "
                                "unique_ops.parquet); blocks, layers and operators per network are expanded on reading"},
        "counts": {
            "train_rows": rows["train"], "val_rows": rows["val"], "networks": n,
            "networks_in_train": int(in_train.sum()), "networks_in_val": int(in_val.sum()),
            "networks_only_in_val": int((in_val & ~in_train).sum()), "val_rows_unseen_network": unseen,
            "blocks": len(occ), "layers": int(layers_per_block[occ].sum()), "distinct_blocks": len(parts.unique_blocks),
            "ops": len(parts.network_ops), "distinct_ops": len(parts.unique_ops),
            "graph_networks": int(parts.networks["graph"].notna().sum()),
            "rejects": len(ds.rejects),
        },
        "ranges": {c: merged_range(stats["train"] + stats["val"], c, cats.get(c)) for c in cols},
        "features": feature_definitions(),
        "schema": schema.to_dict(),
        "sources": sources,
        "raw_manifest": read_raw_manifest(raw_dir),  # issue 15: a BOM allowed, damage named (integrity.py)
    }


def _write_rejects(rejects: pd.DataFrame, path: Path) -> None:
    write_table(pa.Table.from_pandas(rejects, preserve_index=False), path)


def write_processed(ds: ProcessedDataset, out_dir: str | os.PathLike[str]) -> None:
    """Write every table and the manifest into ``out_dir`` as a whole: all of it, or nothing.

    ``ds`` may come from :func:`process` or :func:`load_processed` and have changed since (rows
    dropped, say), or be built in memory (network tables from :func:`.features.feature_tables`; a
    manifest with at least ``columns``). The targets' storage is chosen anew for the rows written."""
    parts = ds.parts if ds.parts is not None else parts_from_tables(ds.networks, ds.blocks, ds.layers)
    numeric, categorical, targets = ds.hardware_numeric, ds.hardware_categorical, ds.targets
    key_type = parts.networks["network"].dtype
    frames = {name: getattr(ds, name) for name in ("train", "val")}
    stored, storage = encode_tables([{t: f[t].to_numpy(np.float64) for t in targets} for f in frames.values()],
                                    _relations(ds.manifest))
    manifest = {**ds.manifest, "format": "hwpower-processed", "format_version": FORMAT_VERSION,
                "hwpower_version": __version__,
                "storage": {**ds.manifest.get("storage", {}), "targets": storage, "rule": stored_target_choice_text()}}
    with atomic_dir(out_dir, command="process") as tmp:
        with ThreadPoolExecutor(max_workers=2) as pool:  # pyarrow compresses without the GIL
            writes = [pool.submit(_write_split, [frame_columns(f, numeric, categorical, key_type)], [st], numeric,
                                  categorical, list(key_type.categories), tmp / f"{name}.parquet", storage)
                      for (name, f), st in zip(frames.items(), stored)]
            writes += [pool.submit(write_parts, parts, tmp), pool.submit(_write_rejects, ds.rejects, tmp / "rejects.parquet")]
            for done in writes:
                done.result()
        write_json_atomic(tmp / MANIFEST, manifest)


def _relations(manifest: dict[str, Any]) -> list:
    """The relations between targets a manifest's schema names (none when it has no schema)."""
    schema = manifest.get("schema")
    if not schema:
        return []
    return schema_from_manifest(schema).relations
