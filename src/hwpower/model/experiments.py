"""The seed's step-8 experiments: models of random layer sizes, and "do we need more data?"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..io import atomic_path, write_json_atomic
from .evaluate import evaluate
from .plots import data_plot, sizes_plot
from .runner import train_model

log = logging.getLogger(__name__)
FLAT_GAIN = 0.10  # the curve has flattened when doubling the data cuts the error by less than this


def _score(predictor, ds) -> tuple[float, float]:
    ev = evaluate(predictor, ds)
    main = "P" if "P" in predictor.targets else predictor.targets[0]
    get = lambda split: ev.splits.get(split, {}).get(main, {}).get("mape_pct", float("nan"))  # noqa: E731
    return get("unseen_hardware"), get("unseen_networks")


def random_layout(arch: str, rng: np.random.Generator) -> dict[str, Any]:
    if arch == "mlp":
        n = int(rng.integers(1, 4))
        return {"mlp_hidden": tuple(int(w) for w in rng.choice([32, 64, 128, 256, 512], n))}
    return {"hidden": int(rng.choice([16, 32, 48, 64, 96, 128])), "depth": int(rng.integers(1, 4)),
            "hw_hidden": int(rng.choice([32, 64, 128]))}


def sizes_experiment(ds, *, n_models: int = 6, arch: str = "structured", seed: int = 0, out_dir: str | Path,
                     progress: bool = True, **params: Any) -> pd.DataFrame:
    """Train ``n_models`` models of random widths and depths; validation error against size."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_models):
        layout = random_layout(arch, rng)
        predictor = train_model(ds, arch, progress=progress, figures=False, seed=seed + i, **layout, **params)
        seen, unseen = _score(predictor, ds)
        rows.append({"model": i, "layout": ",".join(f"{k}={v}" for k, v in layout.items()).replace(" ", ""),
                     "n_parameters": predictor.model.n_parameters(), "val_mape_pct": seen,
                     "unseen_net_mape_pct": unseen, "epochs_run": len(predictor.model.history_)})
    table = pd.DataFrame(rows).sort_values("n_parameters", ignore_index=True)
    _write(table, Path(out_dir), "sizes", {"arch": arch, "seed": seed, "params": params})
    sizes_plot(table, Path(out_dir) / "sizes.png", title=f"Validation error against model size ({arch})")
    return table


@dataclass
class DataVerdict:
    flattened: bool
    last_gain: float  # relative error reduction per doubling of data over the last step
    message: str


def data_verdict(table: pd.DataFrame) -> DataVerdict:
    if len(table) < 2:
        return DataVerdict(False, float("nan"), "need at least two fractions to judge")
    a, b = table.iloc[-2], table.iloc[-1]
    doublings = np.log2(b["train_rows"] / a["train_rows"])
    gain = 1 - (b["val_mape_pct"] / a["val_mape_pct"]) ** (1 / doublings)
    flat = bool(gain < FLAT_GAIN)
    msg = (f"doubling the data cuts the error by {gain * 100:.1f}% at the end of the curve: "
           + ("the curve has flattened; more data of this kind would help little" if flat
              else "still improving; more data would help"))
    return DataVerdict(flat, float(gain), msg)


def data_experiment(ds, *, fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0), arch: str = "structured",
                    seed: int = 0, out_dir: str | Path, progress: bool = True, **params: Any) -> tuple[pd.DataFrame, DataVerdict]:
    """Train on growing random fractions of the training rows (each for the same number of gradient
    steps: ``epochs / fraction`` epochs); error against training-set size."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ds.train))
    rows = []
    for frac in sorted(fractions):
        sub = type(ds)(ds.train.iloc[np.sort(order[:max(1, int(round(frac * len(ds.train))))])].reset_index(drop=True),
                       ds.val, ds.networks, ds.blocks, ds.layers, ds.manifest)
        # The same number of gradient steps at every fraction, so the curve measures data, not training time.
        steps = {"epochs": int(np.ceil(params.get("epochs", 10) / frac))} if arch != "gbt" else {}
        predictor = train_model(sub, arch, progress=progress, figures=False, seed=seed, **{**params, **steps})
        seen, unseen = _score(predictor, ds)
        rows.append({"fraction": frac, "train_rows": len(sub.train), "val_mape_pct": seen, "unseen_net_mape_pct": unseen})
    table = pd.DataFrame(rows)
    verdict = data_verdict(table)
    _write(table, Path(out_dir), "data", {"arch": arch, "seed": seed, "params": params, "verdict": verdict.__dict__})
    data_plot(table, Path(out_dir) / "data.png", title=f"Validation error against training-set size ({arch})")
    return table, verdict


def experiment_paths(out_dir: str | Path, name: str) -> list[Path]:
    """The files the ``name`` (sizes or data) experiment writes into ``out_dir``."""
    return [Path(out_dir) / f"{name}.{ext}" for ext in ("parquet", "json", "png")]


def _write(table: pd.DataFrame, out_dir: Path, name: str, info: dict[str, Any]) -> None:
    with atomic_path(out_dir / f"{name}.parquet") as tmp:
        table.to_parquet(tmp)
    write_json_atomic(out_dir / f"{name}.json", {"hwpower_version": __version__, **{k: _plain(v) for k, v in info.items()},
                                                 "rows": table.to_dict(orient="records")})


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return list(v) if isinstance(v, tuple) else v
