"""``process``: raw folder (nets, train and val shards) -> the processed dataset (the seed's process_data)."""

from __future__ import annotations

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
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import __version__
from ..errors import InputError
from ..io import atomic_dir, write_json_atomic
from .dataset import MANIFEST, ProcessedDataset
from .features import NetworkSet, feature_definitions, feature_tables
from .samples import Reject, load_raw, read_samples
from .schema import DatasetSchema, infer_schema, load_schema

log = logging.getLogger(__name__)

ZSTD_LEVEL = 3  # level 3 gives ~1.3x smaller sample tables than level 1 for little extra time
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
    nets = NetworkSet()
    sample_files = [("train", p) for p in files["train"]] + [("val", p) for p in files["val"]]
    sources: list[dict[str, Any]] = []
    with _progress(progress) as bar:
        task = bar.add_task("processing", total=len(files["nets"]) + len(sample_files) + 1)
        for path in files["nets"]:
            bar.update(task, description=f"reading {path.name}")
            nets.add_file(path)
            sources.append({"file": path.name, "role": "nets", "sha256": nets.hashes[path.name]})
            bar.advance(task)
        schema, parts, rejects, sample_sources = _read_sample_files(sample_files, schema, nets, skip_bad_rows,
                                                                    lambda name: bar.update(task, description=name),
                                                                    lambda: bar.advance(task))
        sources += sample_sources
        bar.update(task, description="network features")
        networks, blocks, layers = feature_tables(nets)
        bar.advance(task)
    train, val = (_samples_frame(parts[r], schema, nets.keys) for r in ("train", "val"))
    ds = ProcessedDataset(train=train, val=val, networks=networks, blocks=blocks, layers=layers,
                          rejects=_rejects_frame(rejects))
    ds.manifest = _manifest(ds, schema, sources, raw_dir)
    if out_dir is not None:
        write_processed(ds, out_dir)
    return ds


def _read_sample_files(sample_files: list[tuple[str, Path]], schema: DatasetSchema | None, nets: NetworkSet,
                       skip_bad_rows: bool, describe, advance):
    """Read every train/val shard, one at a time (only one file's text is in memory)."""
    parts: dict[str, list[pa.Table]] = {"train": [], "val": []}
    rejects: list[Reject] = []
    sources: list[dict[str, Any]] = []
    first_header = None
    for role, path in sample_files:
        describe(f"reading {path.name}")
        raw = load_raw(path, schema.separator if schema else None, skip_bad_rows=skip_bad_rows)
        if schema is None:
            schema = infer_schema(raw.header, _sniffed(raw), _first_value(raw), file=str(path))
            log.info("%s", schema.describe())
        if first_header is None:
            first_header = (path, raw.header)
            schema.check_header(raw.header, file=str(path))
        elif set(raw.header) != set(first_header[1]):
            a, b = set(raw.header), set(first_header[1])
            raise InputError(f"columns differ from {first_header[0].name}: missing {sorted(b - a)}, extra "
                             f"{sorted(a - b)}", file=str(path), where="line 1")
        table, bad = read_samples(raw, schema, nets.resolve, skip_bad_rows=skip_bad_rows)
        parts[role].append(table)
        rejects += bad
        sources.append({"file": path.name, "role": role, "sha256": raw.sha256, "rows": table.num_rows,
                        "rejects": len(bad)})
        advance()
    return schema, parts, rejects, sources


def _rejects_frame(rejects: list[Reject]) -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series([r.file for r in rejects], dtype="str"),
                         "line": pd.Series([r.line for r in rejects], dtype="int64"),
                         "reason": pd.Series([r.reason for r in rejects], dtype="str"),
                         "text": pd.Series([r.text for r in rejects], dtype="str")})


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled, transient=True)


def _sniffed(raw) -> str:
    first = raw.data[: raw.data.find(b"\n")]
    return "," if b"," in first else ";" if b";" in first else " "


def _first_value(raw) -> str | None:
    start = raw.data.find(b"\n") + 1
    sep = _sniffed(raw)
    values = raw.data[start: raw.data.find(b"\n", start)].rstrip(b"\r").decode("utf-8", "replace")
    values = values.split() if sep == " " else values.split(sep)
    idx = raw.header.index("network") if "network" in raw.header else None
    return values[idx].strip() if idx is not None and idx < len(values) else None


def _samples_frame(tables: list[pa.Table], schema: DatasetSchema, keys: list[str]) -> pd.DataFrame:
    names = [c.name for c in schema.numeric] + [c.name for c in schema.categorical] + ["network"] + [
        t.name for t in schema.targets]
    if not tables:
        df = pd.DataFrame({n: pd.Series(dtype="float64") for n in names})
        df["network"] = pd.Categorical.from_codes(np.array([], dtype=np.int32), categories=keys)
        return df
    table = pa.concat_tables(tables).select(names)
    codes = table["network"].to_numpy()
    df = table.drop_columns(["network"]).to_pandas(split_blocks=True)  # no 2-D consolidation copy
    # One dictionary for train and val: the codes index the networks table's rows.
    df.insert(names.index("network"), "network", pd.Categorical.from_codes(codes, categories=keys))
    return df


def _range(*parts: pd.Series) -> list:
    """[min, max] of a numeric column over train and val, or its sorted distinct values."""
    parts = tuple(p for p in parts if len(p))
    if not parts:
        return []
    if parts[0].dtype.kind in "if":
        return [min(p.min().item() for p in parts), max(p.max().item() for p in parts)]
    return sorted({v for p in parts for v in p.unique().tolist()})


def _manifest(ds: ProcessedDataset, schema: DatasetSchema, sources: list[dict], raw_dir: Path) -> dict[str, Any]:
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


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    # Dictionary pages help keys and low-cardinality ints; they only bloat near-unique floats.
    dict_cols = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, path, compression="zstd", compression_level=ZSTD_LEVEL, use_dictionary=dict_cols)


def write_processed(ds: ProcessedDataset, out_dir: str | os.PathLike[str]) -> None:
    """Write every table and the manifest into ``out_dir`` as a whole: all of it, or nothing."""
    names = ("train", "layers", "val", "blocks", "networks", "rejects")  # largest first
    with atomic_dir(out_dir) as tmp:
        # pyarrow compresses without the GIL: two writers keep both cores busy
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(_write_parquet, getattr(ds, n), tmp / f"{n}.parquet") for n in names]:
                done.result()
        write_json_atomic(tmp / MANIFEST, ds.manifest)
