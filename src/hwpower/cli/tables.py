"""Rich tables of what the library returns (evaluations, dataset summaries, cross-family errors):
the library hands back data, the command line and the demo render it here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from ..model.evaluate import Evaluation
    from ..processing import ProcessedDataset

METRICS = {"n": ("n", "{:d}"), "mape_pct": ("MAPE", "{:.3f}"), "rmspe_pct": ("RMSPE", "{:.3f}"),
           "within_5_pct": ("≤5%", "{:.1f}"), "within_10_pct": ("≤10%", "{:.1f}"), "spearman": ("Spearman", "{:.4f}"),
           "max_ape_pct": ("max", "{:.2f}"), "coverage_90_pct": ("in 90%", "{:.1f}")}


def frame_table(frame: pd.DataFrame, title: str, formats: dict[str, tuple[str, str]] | None = None) -> Table:
    """A DataFrame as a table: text columns left, numbers right; ``formats``: column -> (header, format)."""
    formats = formats or {}
    table = Table(title=title)
    for col in frame.columns:
        numeric = frame[col].dtype.kind in "iuf"
        table.add_column(formats.get(col, (col, ""))[0], justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v, formats.get(c, (c, ""))[1]) for c, v in zip(frame.columns, row)))
    return table


def _cell(value, fmt: str) -> str:
    if isinstance(value, float) and value != value:  # NaN: not measured
        return "-"
    if fmt:
        return fmt.format(int(value) if fmt.endswith("d}") else value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def evaluation_table(ev: Evaluation) -> Table:
    """Per split and target: errors in %, shares within ±5/±10 %, Spearman and interval coverage."""
    from ..model.evaluate import evaluation_frame

    frame = evaluation_frame(ev).rename(columns={"split": "unseen"})
    frame = frame[[c for c in ("unseen", "target", *METRICS) if c in frame.columns]]
    return frame_table(frame, f"Evaluation of the {ev.model} model (errors in %, share within ±5/±10 %)", METRICS)


def dataset_table(ds: ProcessedDataset) -> Table:
    """The processed dataset's summary (:func:`hwpower.processing.dataset_summary`)."""
    from ..processing import dataset_summary

    return frame_table(dataset_summary(ds), "Processed dataset")
