"""Per-network statistics (the seed's stats_by_network notebook).

Power distributions per network in train and val, the predictor's error per validation network,
and that error against network size (FLOPs, weights, depth, input resolution) with Spearman rank
correlations, for unseen hardware and unseen networks separately.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter
from scipy.stats import spearmanr

from ..errors import InputError
from ..processing import ProcessedDataset
from .figures import SPLIT_COLORS, new_figure, spans_decades, styled

NETWORK_FEATURES = {  # column of networks.parquet -> axis label with its unit
    "flops": "FLOPs per inference",
    "weights": "weights (parameters)",
    "depth": "depth (weight layers)",
    "input_resolution": "input resolution (pixels)",
}
UNSEEN_HW, UNSEEN_NET = "unseen hardware", "unseen network"


def power_by_network(ds: ProcessedDataset, targets: tuple[str, ...] = ("P_core", "P_bw")) -> pd.DataFrame:
    """Per (split, network, target): sample count and power quartiles in watts."""
    frames = []
    for split, df in (("train", ds.train), ("val", ds.val)):
        long = df.melt(id_vars="network", value_vars=list(targets), var_name="target", value_name="w")
        g = long.groupby(["network", "target"], observed=True)["w"]
        stats = pd.DataFrame({"n": g.size(), "q25_w": g.quantile(0.25), "median_w": g.median(),
                              "q75_w": g.quantile(0.75), "mean_w": g.mean()}).reset_index()
        frames.append(stats.assign(split=split))
    out = pd.concat(frames, ignore_index=True)
    return out[["split", "network", "target", "n", "q25_w", "median_w", "q75_w", "mean_w"]]


def power_by_network_figure(table: pd.DataFrame, targets: tuple[str, ...] = ("P_core", "P_bw")) -> Figure:
    """Median and inter-quartile range of each target per network, train and val side by side.

    Networks are ordered by their overall median ``P_core`` so that the two panels line up.
    """
    order_target = targets[0]
    order = (table[table.target == order_target].groupby("network")["median_w"].median()
             .sort_values().index.tolist())
    pos = {net: i for i, net in enumerate(order)}
    with styled():
        fig, axes = new_figure(len(targets), 1, width=11.5, height=3.3 * len(targets), sharex=True)
        for ax, target in zip(axes, targets):
            sub = table[table.target == target]
            for split, offset in (("train", -0.15), ("val", 0.15)):
                s = sub[sub.split == split]
                x = s["network"].map(pos).to_numpy(float) + offset
                med = s["median_w"].to_numpy()
                err = np.vstack([med - s["q25_w"].to_numpy(), s["q75_w"].to_numpy() - med])
                ax.errorbar(x, med, yerr=err, fmt="o", ms=3, lw=1, color=SPLIT_COLORS[split],
                            label=f"{split}: median and quartiles ({s.network.nunique()} networks)")
            if spans_decades(sub[["q25_w", "q75_w"]].to_numpy().ravel()):
                ax.set_yscale("log")
            ax.set_ylabel(f"{target} (W)")
            ax.set_title(f"{target} per network")
            ax.legend(loc="upper left")
        _network_ticks(axes[-1], order, f"median {order_target}")
        fig.suptitle("Power per network, train vs val")
    return fig


def _network_ticks(ax, order: list[str], by: str, max_labels: int = 40) -> None:
    if len(order) <= max_labels:
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=8)
        ax.set_xlabel(f"network (ordered by {by})")
    else:  # hundreds of labels would be unreadable: keep the rank only
        ax.set_xlabel(f"network rank by {by} ({len(order)} networks)")


def val_errors(ds: ProcessedDataset, predicted: np.ndarray | pd.Series, target: str = "P") -> pd.DataFrame:
    """Row-wise errors of ``predicted`` (aligned with ``ds.val`` rows) against the true ``target``."""
    predicted = np.asarray(predicted, dtype=float)
    if predicted.shape != (len(ds.val),):
        raise InputError(f"expected {len(ds.val)} predictions of {target} (one per val row), got shape {predicted.shape}")
    true = ds.val[target].to_numpy(float)
    if (true <= 0).any():
        raise InputError(f"val has non-positive {target}: relative errors are undefined", where=target)
    split = np.where(ds.unseen_network_mask().to_numpy(), UNSEEN_NET, UNSEEN_HW)
    return pd.DataFrame({
        "network": ds.val["network"].to_numpy(), "split": split, "true_w": true, "predicted_w": predicted,
        "error_pct": 100 * (predicted - true) / true,
        "abs_error_pct": 100 * np.abs(predicted - true) / true,
    })


def errors_by_network(ds: ProcessedDataset, errors: pd.DataFrame) -> pd.DataFrame:
    """Per validation network: its split, MAPE, median and 90th-percentile error, bias, and its size."""
    g = errors.groupby("network")
    per = pd.DataFrame({
        "split": g["split"].first(), "n": g.size(), "mape_pct": g["abs_error_pct"].mean(),
        "median_ape_pct": g["abs_error_pct"].median(), "p90_ape_pct": g["abs_error_pct"].quantile(0.9),
        "bias_pct": g["error_pct"].mean(),
    }).reset_index()
    feats = ds.networks.set_index("network")[list(NETWORK_FEATURES) + ["macs"]]
    missing = sorted(set(per["network"]) - set(feats.index))
    if missing:
        raise InputError(f"val networks missing from networks.parquet: {missing[:5]}")
    return per.join(feats, on="network").sort_values("mape_pct", ignore_index=True)


def error_correlations(per_network: pd.DataFrame) -> pd.DataFrame:
    """Spearman rank correlation between a network's MAPE and each size feature, per split."""
    rows = []
    for split, sub in per_network.groupby("split"):
        for feature in NETWORK_FEATURES:
            rho, p = (np.nan, np.nan)
            # a correlation needs three networks and a feature that varies
            if len(sub) >= 3 and sub[feature].nunique() > 1:
                res = spearmanr(sub[feature], sub["mape_pct"])
                rho, p = float(res.statistic), float(res.pvalue)
            rows.append({"split": split, "feature": feature, "n_networks": len(sub),
                         "spearman_rho": rho, "p_value": p})
    return pd.DataFrame(rows)


def errors_by_network_figure(per_network: pd.DataFrame, target: str = "P") -> Figure:
    """MAPE per validation network, sorted, coloured by split (unseen hardware or network)."""
    per = per_network.sort_values("mape_pct", ignore_index=True)
    with styled():
        fig, (ax,) = new_figure(1, 1, width=11.5, height=4.2)
        for split in (UNSEEN_HW, UNSEEN_NET):
            s = per[per.split == split]
            if len(s):
                ax.bar(s.index, s["mape_pct"], color=SPLIT_COLORS[split], label=f"{split} ({len(s)} networks)")
        _network_ticks(ax, per["network"].tolist(), "error")
        ax.set_ylabel(f"mean absolute error of {target} (%)")
        ax.set_title(f"Predictor error per validation network ({target})")
        ax.legend()
    return fig


def error_vs_features_figure(per_network: pd.DataFrame, correlations: pd.DataFrame, target: str = "P") -> Figure:
    """MAPE per network against each size feature; legend carries Spearman's rho per split."""
    with styled():
        fig, axes = new_figure(1, len(NETWORK_FEATURES), width=14.0, height=3.9, sharey=True)
        for ax, (feature, label) in zip(axes, NETWORK_FEATURES.items()):
            for split in (UNSEEN_HW, UNSEEN_NET):
                s = per_network[per_network.split == split]
                if not len(s):
                    continue
                c = correlations[(correlations.split == split) & (correlations.feature == feature)]
                rho = c["spearman_rho"].iloc[0] if len(c) else np.nan
                ax.scatter(s[feature], s["mape_pct"], s=16, alpha=0.8, color=SPLIT_COLORS[split],
                           label=f"{split}: ρ={rho:+.2f}" if np.isfinite(rho) else f"{split}: ρ n/a")
            if feature in ("flops", "weights"):  # counts: 320M reads better than 3.2e8 or an offset
                if spans_decades(per_network[feature], ratio=4):
                    ax.set_xscale("log")
                    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 1-2-5: labels on short ranges
                    ax.xaxis.set_minor_formatter(NullFormatter())
                ax.xaxis.set_major_formatter(EngFormatter())
            ax.set_xlabel(label)
            ax.set_title(f"error vs {feature}")
            ax.legend(fontsize=8)
        axes[0].set_ylabel(f"MAPE of {target} per network (%)")
        fig.suptitle(f"Predictor error against network size (Spearman ρ per split), {target}")
    return fig
