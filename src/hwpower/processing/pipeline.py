"""``process``: raw folder (nets, train and val shards) -> the processed dataset (the seed's process_data)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import __version__
from ..errors import InputError
from ..io import atomic_dir, write_json_atomic
from .dataset import MANIFEST, ProcessedDataset
from .features import NetworkSet, feature_definitions, feature_tables
from .reading import check_all, start_reading
from .samples import Reject
from .schema import DatasetSchema, load_schema
from .storage import FLOAT32_DIGITS, FLOAT32_RULE, target_dtypes, write_table

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "line", "reason", "text"]


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
            progress: bool = True) -> ProcessedDataset:
    """Process a raw folder into a :class:`ProcessedDataset`; write it atomically to ``out_dir`` if given.

    ``schema``: a schema TOML path or object; None infers it from the first train file's header
    (``ds.manifest["schema"]["inferred"]`` is then true). Without ``skip_bad_rows`` the first bad row
    raises :class:`InputError` naming file and line; with it, bad rows go to ``ds.rejects``.
    """
    raw_dir = Path(raw_dir)
    files = find_raw_files(raw_dir)
    if schema is not None and not isinstance(schema, DatasetSchema):
        schema = load_schema(schema)
    sample_files = [("train", p) for p in files["train"]] + [("val", p) for p in files["val"]]
    # Exit order matters on errors: writers finish before the temporary output folder is removed.
    with _progress(progress) as bar, contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as reader, \
            ThreadPoolExecutor(max_workers=2) as writers:
        task = bar.add_task("processing", total=len(files["nets"]) + len(sample_files) + 1)
        prepared = start_reading(reader, sample_files, schema, skip_bad_rows)  # text parsed while nets are read
        try:
            nets, sources = _read_nets(files["nets"], lambda name: (bar.update(task, description=f"read {name}"),
                                                                     bar.advance(task)))
            samples = check_all(prepared, nets.resolve, skip_bad_rows,
                                lambda name: (bar.update(task, description=f"checked {name}"), bar.advance(task)))
        finally:
            for future in prepared:
                future.cancel()  # after an error: do not parse the remaining shards
        schema = samples.schema
        dtypes = target_dtypes(samples.parts["train"] + samples.parts["val"], [t.name for t in schema.targets])
        train, val = (_samples_frame(samples.parts[r], schema, nets.keys, dtypes) for r in ("train", "val"))
        tmp = stack.enter_context(atomic_dir(out_dir)) if out_dir is not None else None
        targets = list(dtypes)
        # zstd runs without the GIL: the sample tables are written while the features are computed
        writes = [writers.submit(_write_parquet, df, tmp / f"{n}.parquet", targets)
                  for n, df in (("train", train), ("val", val))] if tmp else []
        bar.update(task, description="network features")
        networks, blocks, layers = feature_tables(nets)
        bar.advance(task)
        ds = ProcessedDataset(train=train, val=val, networks=networks, blocks=blocks, layers=layers,
                              rejects=_rejects_frame(samples.rejects))
        if tmp:
            writes += [writers.submit(_write_parquet, getattr(ds, n), tmp / f"{n}.parquet", targets)
                       for n in ("layers", "blocks", "networks", "rejects")]
        ds.manifest = _manifest(ds, schema, sources + samples.sources, raw_dir, dtypes)
        for done in writes:
            done.result()
        if tmp:
            write_json_atomic(tmp / MANIFEST, ds.manifest)
    return ds


def _read_nets(paths: list[Path], advance) -> tuple[NetworkSet, list[dict[str, Any]]]:
    nets, sources = NetworkSet(), []
    for path in paths:
        nets.add_file(path)
        sources.append({"file": path.name, "role": "nets", "sha256": nets.hashes[path.name]})
        advance(path.name)
    return nets, sources


def _rejects_frame(rejects: list[Reject]) -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series([r.file for r in rejects], dtype="str"),
                         "line": pd.Series([r.line for r in rejects], dtype="int64"),
                         "reason": pd.Series([r.reason for r in rejects], dtype="str"),
                         "text": pd.Series([r.text for r in rejects], dtype="str")})


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=True)


def _samples_frame(tables: list[pa.Table], schema: DatasetSchema, keys: list[str],
                   dtypes: dict[str, str]) -> pd.DataFrame:
    names = [c.name for c in schema.numeric] + [c.name for c in schema.categorical] + ["network"] + [
        t.name for t in schema.targets]
    if not tables:
        df = pd.DataFrame({n: pd.Series(dtype=dtypes.get(n, "float64")) for n in names})
        df["network"] = pd.Categorical.from_codes(np.array([], dtype=np.int32), categories=keys)
        return df
    cols: dict[str, Any] = {}
    for name in names:  # one copy per column: the files joined, float32 targets cast on the way
        parts = [t[name] for t in tables]
        if name == "network":  # one dictionary for train and val: the codes index the networks table's rows
            cols[name] = pd.Categorical.from_codes(np.concatenate([p.to_numpy() for p in parts]), categories=keys)
        elif pa.types.is_floating(parts[0].type) or pa.types.is_integer(parts[0].type):
            dtype = dtypes.get(name, parts[0].type.to_pandas_dtype())
            cols[name] = np.concatenate([p.to_numpy() for p in parts], dtype=dtype)
        else:
            cols[name] = pd.array(pa.chunked_array(parts), dtype="str")  # 40x faster than .to_pandas() here
    return pd.DataFrame(cols, copy=False)  # fresh columns: no 2-D consolidation copy


def _range(*parts: pd.Series) -> list:
    """[min, max] of a numeric column over train and val, or its sorted distinct values."""
    parts = tuple(p for p in parts if len(p))
    if not parts:
        return []
    if parts[0].dtype.kind in "if":
        lo, hi = min(p.min().item() for p in parts), max(p.max().item() for p in parts)
        if parts[0].dtype == np.float32:  # the written values, not their float32 approximations
            lo, hi = (float(f"{v:.{FLOAT32_DIGITS}g}") for v in (lo, hi))
        return [lo, hi]
    return sorted({v for p in parts for v in p.unique().tolist()})


def _manifest(ds: ProcessedDataset, schema: DatasetSchema, sources: list[dict], raw_dir: Path,
              dtypes: dict[str, str]) -> dict[str, Any]:
    train_nets = set(ds.train["network"].unique())
    val_nets = set(ds.val["network"].unique())
    raw_manifest = raw_dir / "manifest.json"
    cols = [c.name for c in (*schema.numeric, *schema.categorical, *schema.targets)]
    return {
        "format": "hwpower-processed",
        "format_version": 1,
        "hwpower_version": __version__,
        "columns": {
            "hardware_numeric": [c.name for c in schema.numeric],
            "hardware_categorical": {c.name: list(c.values) for c in schema.categorical},
            "network": "network",
            "targets": [t.name for t in schema.targets],
        },
        "units": schema.units,
        "storage": {"targets": dtypes, "rule": FLOAT32_RULE},
        "counts": {
            "train_rows": len(ds.train), "val_rows": len(ds.val), "networks": len(ds.networks),
            "networks_in_train": len(train_nets), "networks_in_val": len(val_nets),
            "networks_only_in_val": len(val_nets - train_nets), "val_rows_unseen_network": int(ds.unseen_network_mask().sum()),
            "blocks": len(ds.blocks), "layers": len(ds.layers), "rejects": len(ds.rejects),
        },
        "ranges": {c: _range(ds.train[c], ds.val[c]) for c in cols},
        "features": feature_definitions(),
        "schema": schema.to_dict(),
        "sources": sources,
        "raw_manifest": json.loads(raw_manifest.read_text(encoding="utf-8")) if raw_manifest.is_file() else None,
    }


def _write_parquet(df: pd.DataFrame, path: Path, split: list[str]) -> None:
    write_table(pa.Table.from_pandas(df, preserve_index=False), path, split=split)


def write_processed(ds: ProcessedDataset, out_dir: str | os.PathLike[str]) -> None:
    """Write every table and the manifest into ``out_dir`` as a whole: all of it, or nothing."""
    names = ("train", "layers", "val", "blocks", "networks", "rejects")  # largest first
    with atomic_dir(out_dir) as tmp:
        # pyarrow compresses without the GIL: two writers keep both cores busy
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(_write_parquet, getattr(ds, n), tmp / f"{n}.parquet", ds.targets) for n in names]:
                done.result()
        write_json_atomic(tmp / MANIFEST, ds.manifest)
