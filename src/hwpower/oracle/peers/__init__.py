"""Cross-checks of the oracle against peer tools that cost whole networks (Stream)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def rank_agreement(table: pd.DataFrame, peer: str, ours: str) -> dict[str, float]:
    """Spearman rank correlation and median ratio (peer / ours) of energy and latency, read from the
    columns ``energy_{name}_mj`` and ``latency_{name}_ms`` of each side (ZigZag and Stream checks)."""
    out = {}
    for quantity, unit in (("energy", "mj"), ("latency", "ms")):
        theirs, mine = table[f"{quantity}_{peer}_{unit}"], table[f"{quantity}_{ours}_{unit}"]
        out[f"spearman_{quantity}"] = float(spearmanr(theirs, mine).statistic)
        out[f"median_ratio_{quantity}"] = float(np.median(theirs / mine))
    return {k: out[k] for k in ("spearman_energy", "spearman_latency", "median_ratio_energy", "median_ratio_latency")}
