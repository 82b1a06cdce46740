"""Figures of a training run and of the experiments (PNG, titled, axes labelled with units)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _plain_log_ticks(*axes) -> None:
    """Log axes ticked at 1-2-5 in plain numbers: matplotlib's default minor labels overlap."""
    for axis in axes:
        lo, hi = axis.get_view_interval()
        wide = np.log10(max(hi, 1e-300) / max(lo, 1e-300)) > 2.5  # 1-2-5 ticks crowd beyond 2.5 decades
        axis.set_major_locator(LogLocator(subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def training_curves(history: list[dict[str, Any]], path: str | Path, *, title: str) -> Path:
    h = pd.DataFrame(history)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.semilogy(h["epoch"], h["train_loss"], "o-", label="train")
    ax1.semilogy(h["epoch"], h["val_loss"], "s-", label="validation (unseen hardware)")
    ax1.set(xlabel="epoch", ylabel="loss: mean squared log error (-)", title="Loss")
    _plain_log_ticks(ax1.yaxis)
    ax1.legend()
    ax2.plot(h["epoch"], h["val_mape_pct"], "s-", color="C1")
    ax2.set(xlabel="epoch", ylabel="validation MAPE (%)", title="Validation error, trained targets")
    fig.suptitle(title)
    return _save(fig, Path(path))


def parity(true: pd.DataFrame, pred: pd.DataFrame, unseen_network: np.ndarray, path: str | Path, *, title: str) -> Path:
    targets = [t for t in pred.columns if t in true.columns]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 4.4), squeeze=False, layout="constrained")
    units = {"P": "W", "P_core": "W", "P_bw": "W", "latency_ms": "ms", "energy_mj": "mJ"}
    for ax, t in zip(axes[0], targets, strict=True):
        for mask, label, color in ((~unseen_network, "unseen hardware", "C0"), (unseen_network, "unseen networks", "C3")):
            if mask.any():
                ax.loglog(true[t].to_numpy()[mask], pred[t].to_numpy()[mask], ".", ms=2, alpha=0.4, color=color, label=label)
        lo, hi = float(true[t].min()), float(true[t].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        ax.set(xlabel=f"true {t} ({units.get(t, '-')})", ylabel=f"predicted {t} ({units.get(t, '-')})", title=t)
        _plain_log_ticks(ax.xaxis, ax.yaxis)
        ax.legend(fontsize=7, markerscale=4)
    fig.suptitle(title)
    return _save(fig, Path(path))


def sizes_plot(table: pd.DataFrame, path: str | Path, *, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.semilogx(table["n_parameters"], table["val_mape_pct"], "o")
    for _, r in table.iterrows():
        ax.annotate(r["layout"], (r["n_parameters"], r["val_mape_pct"]), fontsize=6, alpha=0.7)
    ax.set(xlabel="trainable parameters (count)", ylabel="validation MAPE of P, unseen hardware (%)", title=title)
    _plain_log_ticks(ax.xaxis)
    return _save(fig, Path(path))


def data_plot(table: pd.DataFrame, path: str | Path, *, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for col, label in (("val_mape_pct", "unseen hardware"), ("unseen_net_mape_pct", "unseen networks")):
        if col in table and table[col].notna().any():
            ax.loglog(table["train_rows"], table[col], "o-", label=label)
    ax.set(xlabel="training rows (count)", ylabel="validation MAPE of P (%)", title=title)
    _plain_log_ticks(ax.xaxis, ax.yaxis)
    ax.legend()
    return _save(fig, Path(path))
