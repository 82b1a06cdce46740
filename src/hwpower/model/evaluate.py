"""Evaluation (the seed's step 8): per target MAPE, RMSPE, share within +-5 % and +-10 %, Spearman
rank correlation and the worst errors, on the validation rows on unseen hardware and on the held-out
networks; plus a per-network table."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr

from .. import __version__
from ..io import atomic_path, write_json_atomic, write_text_atomic
from .uncertainty import coverage

log = logging.getLogger(__name__)
INTERVAL = 0.9  # the interval whose coverage is reported
SPLITS = {"unseen_hardware": "validation rows on unseen hardware (networks seen in training)",
          "unseen_networks": "validation rows on held-out networks"}


def metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Relative-error metrics in percent (and Spearman's rho) of ``pred`` against ``true``."""
    rel = pred / true - 1.0
    ape = np.abs(rel)
    varied = len(true) > 1 and np.ptp(true) > 0 and np.ptp(pred) > 0  # rank correlation needs variation
    rho = float(spearmanr(true, pred).statistic) if varied else float("nan")
    return {"n": int(len(true)), "mape_pct": float(ape.mean() * 100), "rmspe_pct": float(np.sqrt((rel ** 2).mean()) * 100),
            "within_5_pct": float((ape <= 0.05).mean() * 100), "within_10_pct": float((ape <= 0.10).mean() * 100),
            "spearman": rho, "max_ape_pct": float(ape.max() * 100)}


@dataclass
class Evaluation:
    model: str
    splits: dict[str, dict[str, dict[str, float]]]  # split -> target -> metric -> value
    worst: dict[str, list[dict[str, Any]]]  # split -> worst rows of P (or the first target)
    per_network: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"hwpower_version": __version__, "model": self.model, "splits": self.splits, "split_meaning": SPLITS,
                "worst": self.worst, "per_network": self.per_network.to_dict(orient="records")}


def evaluate(predictor, ds, *, n_worst: int = 10) -> Evaluation:
    """Predict every validation row of ``ds`` and score it per split and per network (networks outside
    the training data's support and implausible predictions warn, see :meth:`Predictor.predict`)."""
    level = INTERVAL if getattr(predictor, "calibration", None) is not None else None
    pred = predictor.predict(ds.val, ds, out_of_range="warn", source="val.parquet", interval=level)
    unseen_net = ds.unseen_network_mask().to_numpy()
    targets = [t for t in predictor.targets if t in ds.val.columns]
    main = "P" if "P" in targets else targets[0]
    splits, worst = {}, {}
    for split, mask in (("unseen_hardware", ~unseen_net), ("unseen_networks", unseen_net)):
        if not mask.any():
            continue
        splits[split] = {t: metrics(ds.val[t].to_numpy()[mask], pred[t].to_numpy()[mask]) for t in targets}
        if level is not None:  # share of true values inside the 90 % interval (.uncertainty)
            for t, cov in coverage(ds.val[mask], pred[mask], targets).items():
                splits[split][t]["coverage_90_pct"] = cov
        rows = ds.val[mask].copy()
        rows[f"{main}_pred"] = pred[main].to_numpy()[mask]
        rows["error_pct"] = (rows[f"{main}_pred"] / rows[main] - 1) * 100
        top = rows.reindex(rows["error_pct"].abs().sort_values(ascending=False).index).head(n_worst)
        worst[split] = top.to_dict(orient="records")
    frame = pd.DataFrame({"network": ds.val["network"].to_numpy(), "split": np.where(unseen_net, "unseen_networks", "unseen_hardware"),
                          "ape": np.abs(pred[main].to_numpy() / ds.val[main].to_numpy() - 1) * 100})
    per_net = (frame.groupby(["network", "split"]).agg(n=("ape", "size"), mape_pct=("ape", "mean"), max_ape_pct=("ape", "max"))
               .reset_index().merge(ds.networks[["network", "macs", "weights", "depth", "input_resolution"]], on="network", how="left")
               .sort_values("mape_pct", ascending=False, ignore_index=True))
    return Evaluation(predictor.name, splits, worst, per_net)


def evaluation_table(ev: Evaluation) -> Table:
    table = Table(title=f"Evaluation of the {ev.model} model (errors in %, share within ±5/±10 %)")
    cov = any("coverage_90_pct" in m for per in ev.splits.values() for m in per.values())
    for col in ("unseen", "target", "n", "MAPE", "RMSPE", "≤5%", "≤10%", "Spearman", "max", *(["in 90%"] if cov else [])):
        table.add_column(col, justify="left" if col in ("unseen", "target") else "right")
    for split, per_target in ev.splits.items():
        for t, m in per_target.items():
            extra = [f"{m.get('coverage_90_pct', float('nan')):.1f}"] if cov else []
            table.add_row(split.removeprefix("unseen_"), t, str(m["n"]), f"{m['mape_pct']:.3f}", f"{m['rmspe_pct']:.3f}",
                          f"{m['within_5_pct']:.1f}", f"{m['within_10_pct']:.1f}", f"{m['spearman']:.4f}",
                          f"{m['max_ape_pct']:.2f}", *extra)
    return table


def evaluation_paths(out_dir: str | Path) -> dict[str, Path]:
    """The files :func:`write_evaluation` writes (the command line checks them before evaluating)."""
    out_dir = Path(out_dir)
    return {"json": out_dir / "evaluation.json", "txt": out_dir / "evaluation.txt",
            "per_network": out_dir / "per_network.parquet"}


def write_evaluation(ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """evaluation.json, evaluation.txt (readable table) and per_network.parquet in ``out_dir``."""
    paths = evaluation_paths(out_dir)
    write_json_atomic(paths["json"], ev.to_dict())
    console = Console(record=True, width=120, file=io.StringIO())  # rendered for the text file only
    console.print(evaluation_table(ev))
    console.print(f"Worst networks ({'P' if 'P' in next(iter(ev.splits.values()), {}) else 'first target'}):")
    console.print(ev.per_network.head(15).to_string(index=False))
    write_text_atomic(paths["txt"], console.export_text())
    with atomic_path(paths["per_network"]) as tmp:
        ev.per_network.to_parquet(tmp)
    return paths
