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
    table.add_row("networks in train / val", f"{counts['networks_in_train']:,} / {counts['networks_in_val']:,}")
    table.add_row("networks only in val", f"{counts['networks_only_in_val']:,}")
    for name in [*ds.hardware_numeric, *ds.hardware_categorical, *ds.targets]:
        values = ds.manifest["ranges"][name]  # computed once by process
        if name in ds.hardware_categorical:
            table.add_row(name, ", ".join(map(str, values)))
            continue
        unit = f" {units[name]}" if name in units else ""
        table.add_row(name, f"{_fmt(values[0])} .. {_fmt(values[1])}{unit}" if values else "(no rows)")
    table.add_row("rejected rows", f"{counts.get('rejects', len(ds.rejects)):,}")
    return table
