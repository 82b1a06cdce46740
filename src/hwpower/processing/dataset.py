"""The processed dataset: samples referencing networks by key, each network stored once.

This is the contract between ``hwpower process`` (which writes it) and the predictor, search and
report (which read it). See docs/data-format.md for the columns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 3  # 2: exact decimal targets, distinct blocks + sequences; 3: + distinct operators + sequences
TABLES = ("networks", "blocks", "layers", "ops")


class _Table:
    """A table of the dataset: given, or built on first use by the builder the dataset was made with
    (``process`` builds the pandas tables only when asked: the command line writes Parquet and the
    manifest and never needs them)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> pd.DataFrame:
        if obj is None:
            return self  # type: ignore[return-value]
        tables = obj.__dict__.setdefault("_tables", {})
        if tables.get(self.name) is None:
            build = obj.__dict__.get("_builders", {}).get(self.name)
            if build is None:
                raise AttributeError(f"ProcessedDataset has no {self.name} table")
            tables.update(build())  # a builder may make several tables at once (networks, blocks, layers, ops)
        return tables[self.name]

    def __set__(self, obj: Any, value: pd.DataFrame) -> None:
        obj.__dict__.setdefault("_tables", {})[self.name] = value


class ProcessedDataset:
    """In-memory processed dataset.

    ``train``/``val``: one row per sample (hardware columns, ``network`` key, targets in float64,
    exactly the values of the raw text; word-valued categorical columns as pandas categoricals).
    ``networks``/``blocks``/``layers``/``ops``: features per network, block, layer and operator, keyed
    by ``network`` (graph networks have operators only; built in memory without ``ops``, the operators
    are computed from the networks' definitions on first use).
    ``manifest``: column roles (``hardware_numeric``, ``hardware_categorical`` mapping name to its
    allowed values, ``network``, ``targets``), units, counts, hashes, storage, package version.
    ``rejects``: rows set aside by ``process(..., skip_bad_rows=True)``: file, line, reason, text.
    ``parts``: the network tables as stored (each distinct block once), when read or processed.
    """

    train = _Table()
    val = _Table()
    networks = _Table()
    blocks = _Table()
    layers = _Table()
    ops = _Table()

    def __init__(self, train: pd.DataFrame | None = None, val: pd.DataFrame | None = None,
                 networks: pd.DataFrame | None = None, blocks: pd.DataFrame | None = None,
                 layers: pd.DataFrame | None = None, manifest: dict[str, Any] | None = None,
                 rejects: pd.DataFrame | None = None, parts: Any = None, *, ops: pd.DataFrame | None = None,
                 builders: dict[str, Callable[[], dict[str, pd.DataFrame]]] | None = None):
        self._builders = dict(builders or {})
        if ops is None and networks is not None and "ops" not in self._builders:
            self._builders["ops"] = lambda: {"ops": _ops_of(self.networks)}
        self._tables = {"train": train, "val": val, "networks": networks, "blocks": blocks, "layers": layers, "ops": ops}
        self.manifest = manifest if manifest is not None else {}
        self.rejects = rejects if rejects is not None else pd.DataFrame(columns=["file", "line", "reason", "text"])
        self.parts = parts  # features.NetworkParts
        self.train_stream = None  # stream.ParquetBatches when the training rows are read batch by batch

    def __repr__(self) -> str:
        counts = self.manifest.get("counts", {})
        return (f"ProcessedDataset(train_rows={counts.get('train_rows')}, val_rows={counts.get('val_rows')}, "
                f"networks={counts.get('networks')})")

    @property
    def hardware_numeric(self) -> list[str]:
        return list(self.manifest["columns"]["hardware_numeric"])

    @property
    def hardware_categorical(self) -> dict[str, list]:
        return dict(self.manifest["columns"]["hardware_categorical"])

    @property
    def targets(self) -> list[str]:
        return list(self.manifest["columns"]["targets"])

    def unseen_network_mask(self) -> pd.Series:
        """Validation rows whose network never appears in training (the unseen-network split)."""
        return ~self.val["network"].isin(set(self.train["network"].unique()))


def _ops_of(networks: pd.DataFrame) -> pd.DataFrame:
    from .features import ops_from_definitions

    return ops_from_definitions(networks)


def load_processed(path: str | os.PathLike[str], *, stream: bool | str = False, sample_rows: int = 1_000_000,
                   seed: int = 0) -> ProcessedDataset:
    """Read a processed folder written by ``hwpower process``.

    ``stream``: the training split is not read into memory: ``train`` is a sample of ``sample_rows``
    rows (to fit encoders on) and ``train_stream`` a :class:`~.stream.ParquetBatches` that reads all
    of it batch by batch, shuffled from ``seed`` (docs/scale.md; ``stream.should_stream(manifest)``
    says when a split is too large for memory); ``"auto"`` streams exactly when the training split
    is (``stream.split_too_large``)."""
    from .features import expand
    from .integrity import read_json_object
    from .storage import read_parts, read_samples, read_table

    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"no {MANIFEST}: not a processed dataset folder (run `hwpower process` first)", file=str(path))
    manifest = read_json_object(manifest_path)  # issue 15: damaged JSON named by file and line (integrity.py)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"processed dataset format {manifest.get('format_version')!r} (written by hwpower "
                         f"{manifest.get('hwpower_version', '?')}); this hwpower reads format {FORMAT_VERSION} "
                         "(networks stored as operators): run `hwpower process RAW_DIR --out DIR` again",
                         file=str(manifest_path))
    if stream == "auto":
        from .stream import split_too_large

        stream = split_too_large(path / "train.parquet")
    parts = read_parts(path)
    key_type = parts.networks["network"].dtype
    targets, storage = manifest["columns"]["targets"], manifest["storage"]["targets"]
    splits, source = {}, None
    for name in ("train", "val"):
        if stream and name == "train":
            from .stream import ParquetBatches

            source = ParquetBatches(path, manifest, key_type, seed=seed)
            splits[name] = source.sample(sample_rows)
            continue
        frame = read_samples(path / f"{name}.parquet", targets, storage)
        frame["network"] = pd.Categorical(frame["network"], dtype=key_type)  # one dictionary: the networks'
        splits[name] = frame
    rejects = read_table(path / "rejects.parquet") if (path / "rejects.parquet").is_file() else None
    expanded = dict.fromkeys(TABLES, lambda: dict(zip(TABLES, expand(parts))))
    ds = ProcessedDataset(manifest=manifest, rejects=rejects, parts=parts, builders=expanded, **splits)
    ds.train_stream = source  # None unless streamed: training then reads every row from it
    return ds
