"""Few-shot adaptation to a new truth (docs/predictor.md, "Adaptation").

The source model stays frozen; a small correction of its natural-log outputs is fitted on a few
measured rows of the new source, per trained target ``t``:

    log y_t = log ŷ_t + b_t + a_t (log ŷ_t - c_t) [+ w_t · hw_norm]

by ridge regression of the residual ``log y - log ŷ`` (``c_t``: the mean log prediction of the rows,
so ``b_t`` is the mean shift). ``kind``: ``bias`` (``b`` only), ``affine`` (``a``, ``b``) or
``affine-hw`` (also a linear term in the normalised hardware; the default, chosen by measurement:
BENCHMARKS.md, "Predictor: few-shot adaptation"). ``alpha`` shrinks ``a`` and ``w`` towards zero,
i.e. towards the source model.
Derived outputs follow: ``P = P_core + P_bw`` and ``energy = P × latency`` when those were derived.
The correction is differentiable, so the search runs through an adapted predictor unchanged.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import write_json_atomic
from .correction import FILE, Correction, load_correction  # noqa: F401 (load_correction re-exported)

KINDS = ("bias", "affine", "affine-hw")


def _design(log_pred: np.ndarray, center: float, hw: np.ndarray | None, kind: str) -> np.ndarray:
    cols = [np.ones_like(log_pred)]
    if kind != "bias":
        cols.append(log_pred - center)
    if kind == "affine-hw":
        cols.extend(hw.T)
    return np.stack(cols, axis=1)


def _ridge(x: np.ndarray, r: np.ndarray, alpha: float) -> np.ndarray:
    """Least squares with ``alpha · n`` on every coefficient but the intercept."""
    penalty = np.full(x.shape[1], alpha * len(r))
    penalty[0] = 0.0
    return np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ r)


def _check(predictor, samples: pd.DataFrame, kind: str, alpha: float, source: str) -> list[str]:
    if kind not in KINDS:
        raise InputError(f"unknown adaptation kind {kind!r} (known: {list(KINDS)})", where="--kind")
    if alpha < 0:
        raise InputError(f"alpha must be >= 0, got {alpha}", where="--alpha")
    trained = list(predictor.model.targets)
    missing = [t for t in trained if t not in samples.columns]
    if missing:
        raise InputError(f"the adaptation rows lack the trained target(s) {missing}", file=source)
    if len(samples) < 2:
        raise InputError(f"adaptation needs at least 2 rows, got {len(samples)}", file=source)
    for t in trained:
        y = samples[t].to_numpy(np.float64)
        if not np.isfinite(y).all() or (y <= 0).any():
            raise InputError(f"{t} must be a positive number in every row", file=source)
    return trained


def _fit(base: pd.DataFrame, samples: pd.DataFrame, hw: np.ndarray | None, trained: list[str], reported: list[str],
         kind: str, alpha: float) -> Correction:
    center, coef = {}, {}
    for t in trained:
        log_pred = np.log(base[t].to_numpy(np.float64))
        center[t] = float(log_pred.mean())
        x = _design(log_pred, center[t], hw, kind)
        coef[t] = [float(v) for v in _ridge(x, np.log(samples[t].to_numpy(np.float64)) - log_pred, alpha)]
    return Correction(kind, trained, reported, center, coef)


def _base(predictor, samples: pd.DataFrame, nets: Any, kind: str,
          source: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The source model's predictions of ``samples`` and, for ``affine-hw``, their normalised hardware."""
    hw_cols = predictor.hw_encoder.columns
    base = predictor.predict(samples[[*hw_cols, "network"]], nets, out_of_range="warn", source=source, raw=True)
    hw = None
    if kind == "affine-hw":
        hw = predictor.hw_encoder.encode(samples[hw_cols], source=source, out_of_range="ignore")
    return base, hw


def fit_correction(predictor, samples: pd.DataFrame, nets: Any, *, kind: str = "affine-hw",
                   alpha: float = 0.1, source: str = "adaptation rows") -> Correction:
    """Fit the correction on measured ``samples`` (hardware, ``network``, targets) of the new truth."""
    trained = _check(predictor, samples, kind, alpha, source)
    base, hw = _base(predictor, samples, nets, kind, source)
    return _fit(base, samples, hw, trained, list(predictor.targets), kind, alpha)


def loo_scores(predictor, samples: pd.DataFrame, nets: Any, *, kind: str, alpha: float,
               source: str = "adaptation rows") -> dict[str, list[float]]:
    """Leave-one-out |log(pred / truth)| of the adapted predictor on its own rows: its calibration
    scores (each row is predicted by a correction fitted without it)."""
    from .uncertainty import log_scores

    trained = _check(predictor, samples, kind, alpha, source)
    base, hw = _base(predictor, samples, nets, kind, source)
    out: dict[str, list[float]] = {}
    for i in range(len(samples)):
        keep = np.arange(len(samples)) != i
        corr = _fit(base[keep], samples[keep], None if hw is None else hw[keep], trained, list(predictor.targets),
                    kind, alpha)
        pred = corr.apply_frame(base.iloc[[i]], None if hw is None else hw[[i]])
        for t, s in log_scores(samples.iloc[[i]], pred, predictor.targets).items():
            out.setdefault(t, []).append(float(s[0]))
    return {t: sorted(v) for t, v in out.items()}


def write_adaptation(run_dir: str | Path, correction: Correction, provenance: dict[str, Any]) -> Path:
    path = Path(run_dir) / FILE
    write_json_atomic(path, {"correction": correction.to_dict(), "provenance": provenance})
    return path


def log_error_summary(truth: pd.DataFrame, pred: pd.DataFrame, target: str) -> dict[str, float]:
    """MAPE (%) and Spearman's rho of ``target``: what the benchmark and the command report."""
    from .evaluate import metrics

    m = metrics(truth[target].to_numpy(np.float64), pred[target].to_numpy(np.float64))
    return {"mape_pct": m["mape_pct"], "spearman": m["spearman"] if not math.isnan(m["spearman"]) else None}


def pick_rows(train: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """``rows`` random rows of ``train`` (all of them when None), reproducibly with ``seed``."""
    if rows is None or rows >= len(train):
        return train
    if rows < 2:
        raise InputError(f"--rows must be at least 2, got {rows}", where="--rows")
    idx = np.sort(np.random.default_rng(seed).choice(len(train), size=rows, replace=False))
    return train.iloc[idx]


def adapt_run(run_dir: str | Path, ds, out: str | Path, *, kind: str = "affine-hw", alpha: float = 0.1,
              rows: int | None = None, seed: int = 0, force: bool = False, data_dir: str | Path | None = None):
    """Adapt the run ``run_dir`` to the truth of ``ds`` (its training rows, or ``rows`` of them) and write
    a complete run folder ``out``: the source's best checkpoint, ``adaptation.json`` (correction and
    provenance), ``calibration.json`` (leave-one-out, when there are enough rows) and, when ``ds`` has
    validation rows, ``evaluation.*`` on them. Returns (adapted Predictor, provenance)."""
    from .. import __version__
    from ..io import start_output_dir
    from ..runstate import mark_run
    from .predictor import Predictor
    from .uncertainty import LEVEL, Calibration, min_rows

    run_dir = Path(run_dir)
    source = Predictor.load(run_dir)
    if source.correction is not None:
        raise InputError(f"{run_dir} is itself an adapted run; adapt its source run instead", where="RUN")
    samples = pick_rows(ds.train, rows, seed)
    correction = fit_correction(source, samples, ds, kind=kind, alpha=alpha, source="train.parquet")
    scores = loo_scores(source, samples, ds, kind=kind, alpha=alpha, source="train.parquet")
    calibration = None
    if len(samples) >= min_rows(LEVEL):
        calibration = Calibration(scores, f"leave-one-out on the {len(samples)} adaptation rows")
    adapted = source.with_correction(correction, calibration)
    provenance = {"hwpower_version": __version__, "source_run": str(run_dir.resolve()),
                  "data": None if data_dir is None else str(Path(data_dir).resolve()), "kind": kind, "alpha": alpha,
                  "seed": seed, "rows_used": int(len(samples)),
                  "row_indices": [int(i) for i in np.flatnonzero(ds.train.index.isin(samples.index))],
                  "networks": sorted(samples["network"].astype(str).unique()),
                  "loo_mean_abs_log_error_pct": {t: float(np.mean(s)) * 100 for t, s in scores.items()}}
    out = start_output_dir(out, command="adapt", force=force, inputs=[run_dir, data_dir])
    mark_run(out, complete=False)
    shutil.copytree(run_dir / "best", out / "best", ignore=shutil.ignore_patterns("train_state.pt"))
    write_adaptation(out, correction, provenance)
    if calibration is not None:
        calibration.save(out)
    mark_run(out, complete=True)
    return adapted, provenance
