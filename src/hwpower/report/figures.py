"""Figure helpers shared by the analysis modules: one readable style, PNG bytes, no pyplot state.

Figures are built on :class:`matplotlib.figure.Figure` directly (Agg canvas) rather than through
``pyplot``, so nothing global is touched and no display is needed; the style is applied with an
``rc_context`` around each figure's construction.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Sizes chosen so that a figure shown at ~900 px wide in the report stays legible.
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "figure.titlesize": 14,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
SPLIT_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "unseen hardware": "#2ca02c", "unseen network": "#d62728"}
DPI = 110


@contextmanager
def styled() -> Iterator[None]:
    """Apply the report style while figures are created (fonts are fixed at creation time)."""
    with mpl.rc_context(STYLE):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 11.0, height: float = 4.2, **kw) -> tuple[Figure, np.ndarray]:
    """A figure with an Agg canvas and a flat array of axes."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes.ravel()


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def spans_decades(values: np.ndarray, ratio: float = 30.0) -> bool:
    """Whether positive ``values`` span enough orders of magnitude to deserve a log axis."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return values.size > 1 and values.max() / values.min() >= ratio


def bins_for(values: np.ndarray, log: bool, n: int = 40) -> np.ndarray:
    """Shared bin edges (log-spaced when ``log``) so that train and val histograms compare."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values to bin")
    if log:
        values = values[values > 0]
        lo, hi = values.min(), values.max()
        if lo == hi:  # a constant column still gets one visible bar
            lo, hi = lo / 1.1, hi * 1.1
        return np.geomspace(lo, hi, n + 1)
    lo, hi = values.min(), values.max()
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n + 1)
