"""Input handling for ``hwpower predict``: nets files, hardware assignments, batch tables (imported
inside the command: it loads pandas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import atomic_path
from ..model.predictor import Predictor
from ..networks import read_networks
from ..networks.jsonio import AnyNetwork


def load_networks(paths: list[Path]) -> dict[str, AnyNetwork]:
    """Read nets files (block or graph networks) into {"STEM/ID": network}, the processed dataset's keys."""
    out: dict[str, AnyNetwork] = {}
    for path in paths:
        for net_id, net in read_networks(path).items():
            out[f"{Path(path).stem}/{net_id}"] = net
    return out


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def predict_single(predictor: Predictor, nets: dict[str, AnyNetwork], net_id: int, hw: dict[str, str], *,
                   out_of_range: str = "warn", interval: float | None = None) -> dict[str, float]:
    matches = [k for k in nets if k.rsplit("/", 1)[-1] == str(net_id)]
    if not matches:
        raise InputError(f"no network with id {net_id} in the nets file(s)", where="--id")
    if len(matches) > 1:
        raise InputError(f"network id {net_id} is in several nets files ({matches}); pass one --nets file", where="--id")
    return predictor.predict_one(nets[matches[0]], {k: _value(v) for k, v in hw.items()}, out_of_range=out_of_range,
                                 key=matches[0], interval=interval)


def read_table(path: Path) -> pd.DataFrame:
    """A samples table: Parquet, CSV, or the raw whitespace-separated text format."""
    if not path.is_file():
        raise InputError("no such file", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_csv(path, sep=r"\s+")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read the table: {exc}", file=str(path)) from None


def predict_batch(predictor: Predictor, input: Path, out: Path, *, nets: list[Path], processed: Path | None,
                  out_of_range: str = "warn", interval: float | None = None, compile: bool = False) -> int:
    """Predict every row of ``input`` (hardware columns + ``network`` key) into ``out``."""
    frame = read_table(Path(input))
    if nets:
        tables: Any = load_networks(nets)
    elif processed is not None:
        from ..processing import load_processed

        tables = load_processed(processed)
    else:
        raise InputError("--input needs the networks: --nets FILE(s) or --processed DIR")
    if "network" not in frame.columns:
        raise InputError("no 'network' column (STEM/ID keys)", file=str(input))
    frame["network"] = frame["network"].astype(str)
    known = set(tables) if isinstance(tables, dict) else set(tables.networks["network"])
    unknown = ~frame["network"].isin(known)
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        raise InputError(f"unknown network {frame['network'].iloc[row]!r}", file=str(input), where=f"row {row}")
    if isinstance(tables, dict):
        tables = {k: v for k, v in tables.items() if k in set(frame["network"])}
    truth = [c for c in predictor.targets if c in frame.columns]
    pred = predictor.predict(frame.drop(columns=truth), tables, out_of_range=out_of_range, source=str(input),
                             interval=interval, compile=compile)
    result = pd.concat([frame, pred.add_suffix("_pred")], axis=1)
    with atomic_path(out) as tmp:
        if Path(out).suffix.lower() == ".csv":
            result.to_csv(tmp, index=False)
        else:
            result.to_parquet(tmp)
    return len(result)


__all__ = ["load_networks", "predict_batch", "predict_single", "read_table"]
