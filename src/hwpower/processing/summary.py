"""The end-of-run summary of a processed dataset, as data (``hwpower process`` and ``hwpower demo``
print it as a table)."""

from __future__ import annotations

import pandas as pd

from .dataset import ProcessedDataset


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def dataset_summary(ds: ProcessedDataset) -> pd.DataFrame:
    """Columns item, value (text): rows per split, networks (and those only in val), hardware and
    target ranges with units, rejected rows."""
    counts = ds.manifest.get("counts", {})
    units = ds.manifest.get("units", {})
    # from the manifest when it counts them: the rows themselves may not be in memory (docs/scale.md)
    rows = [("train rows", f"{counts['train_rows'] if 'train_rows' in counts else len(ds.train):,}"),
            ("val rows", f"{counts['val_rows'] if 'val_rows' in counts else len(ds.val):,}"),
            ("networks (in nets files)", f"{len(ds.networks):,}"),
            ("networks in train / val", f"{counts['networks_in_train']:,} / {counts['networks_in_val']:,}"),
            ("networks only in val", f"{counts['networks_only_in_val']:,}")]
    for name in [*ds.hardware_numeric, *ds.hardware_categorical, *ds.targets]:
        values = ds.manifest["ranges"][name]  # computed once by process
        if name in ds.hardware_categorical:
            rows.append((name, ", ".join(map(str, values))))
            continue
        unit = f" {units[name]}" if name in units else ""
        rows.append((name, f"{_fmt(values[0])} .. {_fmt(values[1])}{unit}" if values else "(no rows)"))
    rows.append(("rejected rows", f"{counts.get('rejects', len(ds.rejects)):,}"))
    return pd.DataFrame(rows, columns=["item", "value"])
