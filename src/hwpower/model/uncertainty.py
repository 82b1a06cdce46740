"""Prediction intervals by split-conformal calibration of the log residuals (docs/predictor.md,
"Uncertainty").

The score of a validation row is ``|log(prediction / truth)|`` per target. For a level ``a`` (0.9),
the half-width is the ``ceil((n + 1) a)``-th smallest of the ``n`` calibration scores: for rows
exchangeable with the calibration rows, ``[pred / e^q, pred * e^q]`` then holds the truth with
probability at least ``a`` (Vovk et al. 2005; Lei et al. 2018). The calibration rows are the
validation rows on **held-out networks** (all validation rows when there are none): new networks are
what a user brings, and their errors are the larger ones, so the interval is conservative on
networks seen in training. The coverage saved with a run is measured honestly: the held-out networks
are split in two, each half calibrates the interval that is scored on the other half.

The half-width is the same relative width for every row of a target (a constant in log space); the
``rel_halfwidth`` column and :meth:`Calibration.log_half_width` are what the search reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CheckpointError, InputError
from ..io import write_json_atomic

FILE = "calibration.json"
LEVEL = 0.9


def min_rows(level: float) -> int:
    """The fewest calibration scores that give a finite ``level`` interval: ceil((n+1)·level) <= n."""
    return math.ceil(level / (1 - level) - 1e-9)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal half-width: the ceil((n+1)·level)-th smallest score."""
    if not 0 < level < 1:
        raise InputError(f"interval must lie in (0, 1), got {level}", where="interval")
    n = len(scores)
    k = math.ceil((n + 1) * level)
    if k > n:
        raise InputError(f"a {level:.0%} interval needs at least {min_rows(level)} calibration rows; "
                         f"the run has {n}", where="interval")
    return float(np.sort(scores)[k - 1])


def log_scores(truth: pd.DataFrame, pred: pd.DataFrame, targets: list[str]) -> dict[str, np.ndarray]:
    """|log(pred / truth)| per target present in ``truth``."""
    return {t: np.abs(np.log(pred[t].to_numpy(np.float64) / truth[t].to_numpy(np.float64)))
            for t in targets if t in truth.columns}


@dataclass
class Calibration:
    """Sorted calibration scores per target, where they came from, and the measured coverage."""

    scores: dict[str, list[float]]
    rows: str  # which rows calibrated, in words
    coverage: dict[str, Any] = field(default_factory=dict)

    def log_half_width(self, target: str, level: float = LEVEL) -> float:
        """Half-width of the ``level`` interval in natural-log space: the interval is
        ``[pred·e^-q, pred·e^q]``; for the search, ``q`` bounds ``|log pred - log truth|``."""
        if target not in self.scores:
            raise InputError(f"no calibration for target {target!r} (calibrated: {sorted(self.scores)})")
        return conformal_quantile(np.asarray(self.scores[target]), level)

    def interval(self, pred: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
        """``{t}_lo``, ``{t}_hi`` per calibrated target of ``pred`` and ``rel_halfwidth`` (of P, or the
        first target): the half-width relative to the prediction, ``(hi - lo) / (2 pred)``."""
        out = {}
        targets = [t for t in pred.columns if t in self.scores]
        for t in targets:
            q = self.log_half_width(t, level)
            out[f"{t}_lo"] = pred[t] * math.exp(-q)
            out[f"{t}_hi"] = pred[t] * math.exp(q)
        main = "P" if "P" in targets else targets[0]
        out["rel_halfwidth"] = (out[f"{main}_hi"] - out[f"{main}_lo"]) / (2 * pred[main])
        return pd.DataFrame(out, index=pred.index)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "split-conformal |log(pred/truth)|", "rows": self.rows, "coverage": self.coverage,
                "scores": {t: [float(v) for v in s] for t, s in self.scores.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        scores = {t: [float(v) for v in s] for t, s in data["scores"].items()}
        return cls(scores, data["rows"], data.get("coverage", {}))

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / FILE
        write_json_atomic(path, self.to_dict())
        return path


def load_calibration(run_dir: str | Path) -> Calibration | None:
    """The run's calibration, or None when it has none (a run from before, or a checkpoint folder)."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt calibration ({exc})") from None


def coverage(truth: pd.DataFrame, band: pd.DataFrame, targets: list[str]) -> dict[str, float]:
    """Share (%) of rows whose true value lies in ``[{t}_lo, {t}_hi]``, per target."""
    return {t: float(((truth[t] >= band[f"{t}_lo"]) & (truth[t] <= band[f"{t}_hi"])).mean() * 100)
            for t in targets if t in truth.columns and f"{t}_lo" in band.columns}


def calibrate(predictor, ds, *, level: float = LEVEL) -> Calibration:
    """Calibrate on ``ds``'s validation rows of held-out networks (or all validation rows), and measure
    the coverage of the ``level`` interval by a two-fold split of those networks."""
    pred = predictor.predict(ds.val, ds, out_of_range="ignore", source="val.parquet")
    unseen = ds.unseen_network_mask().to_numpy()
    mask, rows = (unseen, "validation rows on held-out networks") if unseen.any() else (
        np.ones(len(ds.val), dtype=bool), "all validation rows (no held-out networks)")
    targets = [t for t in predictor.targets if t in ds.val.columns]
    scores = log_scores(ds.val[mask], pred[mask], targets)
    cal = Calibration({t: sorted(float(v) for v in s) for t, s in scores.items()}, f"{rows}: {int(mask.sum())}")
    cal.coverage = _two_fold(ds.val[mask], pred[mask], scores, level)
    if unseen.any() and (~unseen).any():  # rows outside the calibration set: out of sample
        band = cal.interval(pred[~unseen], level)
        cal.coverage["unseen_hardware"] = coverage(ds.val[~unseen], band, targets)
    cal.coverage["level"] = level
    return cal


def _two_fold(truth: pd.DataFrame, pred: pd.DataFrame, scores: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """Coverage (%) on each half of the networks with the interval calibrated on the other half."""
    nets = np.array(sorted(truth["network"].astype(str).unique()))
    if len(nets) < 2:
        return {}
    half = np.isin(truth["network"].astype(str).to_numpy(), nets[::2])
    if min(half.sum(), (~half).sum()) < min_rows(level):
        return {}  # too few rows in a half to calibrate on it
    hits = {t: 0 for t in scores}
    for cal_mask in (half, ~half):
        for t, s in scores.items():
            q = conformal_quantile(s[cal_mask], level)
            hits[t] += int((s[~cal_mask] <= q).sum())
    return {"unseen_networks": {t: 100.0 * h / len(truth) for t, h in hits.items()},
            "unseen_networks_method": "two-fold split of the held-out networks"}
