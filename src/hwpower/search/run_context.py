"""Build a :class:`SearchContext` for a trained run: the predictor, and — computed once from the
processed training data and saved with the run in ``RUN_DIR/search/`` — the hardware space, the
oracle settings the data was generated with, the k-means starts and the training domain."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..io import write_json_atomic
from ..networks import Network
from ..networks.jsonio import network_from_dict
from .context import SearchContext
from .descent import DescentConfig
from .domain import Domain
from .starts import StartPoints, kmeans_starts

log = logging.getLogger(__name__)
FOLDER = "search"


@dataclass
class DataInfo:
    """What the search takes from a processed dataset."""

    space: Any
    oracle_settings: dict[str, Any]
    train_hw: pd.DataFrame
    train_networks: frozenset[str]
    networks: dict[str, Network]  # every network of the dataset, by key


def read_data(data_dir: str | Path, ds: Any = None) -> DataInfo:
    """The search's facts from a processed dataset; ``ds``, when the caller has loaded ``data_dir``
    already (``train`` and the demo have), spares reading it again."""
    from ..oracle import HardwareSpace
    from ..processing import load_processed

    ds = load_processed(data_dir) if ds is None else ds
    raw = ds.manifest.get("raw_manifest") or {}
    space = HardwareSpace.from_dict(raw["space"], file=str(data_dir)) if "space" in raw else HardwareSpace.default()
    hw_cols = [p.name for p in space.params]
    missing = [c for c in hw_cols if c not in ds.train.columns]
    if missing:
        raise InputError(f"the training rows lack hardware parameter(s) {missing} of the search space", file=str(data_dir))
    nets = {str(k): network_from_dict(json.loads(d)) for k, d in zip(ds.networks["network"], ds.networks["definition"])}
    return DataInfo(space, dict(raw.get("oracle_settings") or {}), ds.train[hw_cols],
                    frozenset(ds.train["network"].astype(str).unique()), nets)


def context_files(run_dir: str | Path) -> list[Path]:
    """What a search reads from a run folder (so that no search output is ever written over it)."""
    folder = Path(run_dir) / FOLDER
    return [Path(run_dir) / "best"] + [folder / name for name in ("starts.json", "domain.parquet", "context.json")]


def prepare(run_dir: str | Path, data_dir: str | Path, *, k: int | None = None, seed: int = 0,
            ds: Any = None) -> Path:
    """Compute and save the starts, domain and data facts for ``run_dir`` from ``data_dir`` (loaded
    already as ``ds``, if given)."""
    info = read_data(data_dir, ds)
    folder = Path(run_dir) / FOLDER
    starts = kmeans_starts(info.train_hw, info.space, k=k, seed=seed)
    starts.save(folder / "starts.json")
    Domain.fit(info.train_hw, info.space, seed=seed).save(folder / "domain.parquet")
    write_json_atomic(folder / "context.json", {
        "hwpower_version": __version__, "data": str(Path(data_dir).resolve()), "space": info.space.to_dict(),
        "oracle_settings": info.oracle_settings, "train_networks": sorted(info.train_networks),
    })
    return folder


def load_context(run_dir: str | Path, data_dir: str | Path | None = None, *, k: int | None = None, seed: int = 0,
                 config: DescentConfig | None = None, n_random: int = 8, predictor: Any = None,
                 ray: str | None = None) -> SearchContext:
    """The search context of a run; ``data_dir`` (re)computes the saved starts and domain; ``ray``
    (local, auto or a cluster address) runs the oracle's sweeps as Ray tasks (generate.sweep)."""
    from ..oracle import HardwareSpace, OracleSettings

    folder = Path(run_dir) / FOLDER
    if data_dir is not None:
        prepare(run_dir, data_dir, k=k, seed=seed)
    elif not (folder / "context.json").is_file():
        raise InputError("no search data saved with this run yet: pass --data PROCESSED_DIR once "
                         "(the training data the run was trained on)", file=str(run_dir))
    try:
        facts = json.loads((folder / "context.json").read_text(encoding="utf-8"))
        space = HardwareSpace.from_dict(facts["space"], file=str(folder / "context.json"))
        settings = OracleSettings(**facts["oracle_settings"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable search context ({exc}); re-run with --data", file=str(folder / "context.json")) from None
    if predictor is None:
        from ..model import Predictor
        predictor = Predictor.load(run_dir)
    return SearchContext(
        predictor=predictor, space=space, domain=Domain.load(folder / "domain.parquet", space),
        starts=StartPoints.load(folder / "starts.json"), oracle=_oracle(settings, ray), n_random=n_random,
        config=config or DescentConfig(seed=seed), train_networks=frozenset(facts["train_networks"]),
    )


def _oracle(settings: Any, ray: str | None) -> Any:
    from ..oracle import Oracle

    if ray is None:
        return Oracle(settings)
    from ..generate.sweep import SweepOracle

    return SweepOracle(settings, ray=ray)
