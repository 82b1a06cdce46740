"""One verified recover, identify and design on a run and its processed data (for ``hwpower demo``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .problem import parse_constraint
from .results import SearchResult
from .run import load_context, read_data
from .tasks import RecoverQuery, design, identify, recover


def example_searches(run_dir: str | Path, data_dir: str | Path, *, seed: int = 0, n_identify_nets: int = 4) -> dict[str, SearchResult]:
    """Recover the hardware of a validation row from its ``P``; identify a hidden grid
    configuration from ``n_identify_nets`` networks' ``P_core``/``P_bw`` (oracle-measured); design
    for minimum ``P`` under the network's median latency in the data. All oracle-verified;
    print each with ``result.rich_tables()``."""
    from ..processing import load_processed

    ctx = load_context(run_dir, data_dir, seed=seed)
    info = read_data(data_dir)
    val = load_processed(data_dir).val
    row = val.sample(1, random_state=seed).iloc[0]
    net = info.networks[str(row["network"])]
    out = {"recover": recover(ctx, [RecoverQuery(net, {"P": float(row["P"])}, str(row["network"]))], verify=True, seed=seed)}
    rng = np.random.default_rng(seed)
    keys = rng.choice(sorted(info.networks), min(n_identify_nets, len(info.networks)), replace=False)
    nets = [info.networks[k] for k in keys]
    hidden = pd.concat([ctx.space.sample(1, seed=seed)] * len(nets), ignore_index=True)
    measured = ctx.oracle.evaluate_many(nets, np.arange(len(nets)), hidden)[["P_core", "P_bw"]]
    out["identify"] = identify(ctx, nets, measured, names=[str(k) for k in keys], verify=True, seed=seed)
    out["identify"].meta["hidden"] = hidden.iloc[0].to_dict()
    limit = float(val.loc[val["network"] == row["network"], "latency_ms"].median())
    out["design"] = design(ctx, [net], objective="P", constraints=[parse_constraint(f"latency_ms<={limit:.4g}")],
                           verify=True, names=[str(row["network"])], seed=seed)
    return out
