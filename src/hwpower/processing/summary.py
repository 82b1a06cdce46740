"""The end-of-run summary of a processed dataset, as a rich table (also used by ``hwpower demo``)."""

from __future__ import annotations

from rich.table import Table

from .dataset import ProcessedDataset


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summary_table(ds: ProcessedDataset) -> Table:
    """Rows per split, networks (and those only in val), hardware and target ranges, rejects."""
    counts = ds.manifest.get("counts", {})
    units = ds.manifest.get("units", {})
    table = Table(title="Processed dataset", show_header=True)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("train rows", f"{len(ds.train):,}")
    table.add_row("val rows", f"{len(ds.val):,}")
    table.add_row("networks (in nets files)", f"{len(ds.networks):,}")
    train_nets, val_nets = set(ds.train["network"].unique()), set(ds.val["network"].unique())
    table.add_row("networks in train / val", f"{len(train_nets):,} / {len(val_nets):,}")
    table.add_row("networks only in val", f"{len(val_nets - train_nets):,}")
    both = [df for df in (ds.train, ds.val) if len(df)]
    for name in [*ds.hardware_numeric, *ds.hardware_categorical, *ds.targets]:
        values = sorted({v for df in both for v in df[name].unique().tolist()}) if name in ds.hardware_categorical \
            else None
        if values is not None:
            table.add_row(name, ", ".join(map(str, values)))
            continue
        lo = min((df[name].min() for df in both), default=float("nan"))
        hi = max((df[name].max() for df in both), default=float("nan"))
        unit = f" {units[name]}" if name in units else ""
        table.add_row(name, f"{_fmt(lo.item() if hasattr(lo, 'item') else lo)} .. "
                            f"{_fmt(hi.item() if hasattr(hi, 'item') else hi)}{unit}")
    table.add_row("rejected rows", f"{counts.get('rejects', len(ds.rejects)):,}")
    return table
