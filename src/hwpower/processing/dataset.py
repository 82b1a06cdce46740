"""The processed dataset: samples referencing networks by key, each network stored once.

This is the contract between ``hwpower process`` (which writes it) and the predictor, search and
report (which read it). See docs/data-format.md for the columns.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

TABLES = ("train", "val", "networks", "blocks", "layers")
MANIFEST = "manifest.json"


@dataclass
class ProcessedDataset:
    """In-memory processed dataset.

    ``train``/``val``: one row per sample (hardware columns, ``network`` key, targets).
    ``networks``/``blocks``/``layers``: features per network, block and layer, keyed by ``network``.
    ``manifest``: column roles (``hardware_numeric``, ``hardware_categorical`` mapping name to its
    allowed values, ``network``, ``targets``), units, counts, hashes, package version.
    """

    train: pd.DataFrame
    val: pd.DataFrame
    networks: pd.DataFrame
    blocks: pd.DataFrame
    layers: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)
    # Rows set aside by ``process(..., skip_bad_rows=True)``: file, line, reason, text.
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "line", "reason", "text"]))

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


def load_processed(path: str | os.PathLike[str]) -> ProcessedDataset:
    """Read a processed folder written by ``hwpower process``."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"no {MANIFEST}: not a processed dataset folder (run `hwpower process` first)", file=str(path))
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    tables = {}
    for name in TABLES:
        table_path = path / f"{name}.parquet"
        if not table_path.is_file():
            raise InputError(f"missing {name}.parquet", file=str(path))
        tables[name] = pd.read_parquet(table_path)
    if (path / "rejects.parquet").is_file():
        tables["rejects"] = pd.read_parquet(path / "rejects.parquet")
    return ProcessedDataset(manifest=manifest, **tables)
