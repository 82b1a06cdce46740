"""How far the predictor carries across network families: its error per search-space family (held-out
networks and unseen hardware, from ``evaluation.json``) and on zoo networks never trained on (from
``zoo.json``), as tables and one figure.

The family of a network is its nets file's stem without ``nets_`` (``nets_ofa-mbv3/3`` is
``ofa-mbv3``), as ``hwpower generate`` names the files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .artifacts import RunArtifacts
from .figures import SPLIT_COLORS, new_figure, styled
from .page import FigureItem, Section, TableItem

SPLIT_LABELS = {"hardware": "unseen hardware", "networks": "unseen network"}


def family_of(network: str) -> str:
    """``nets_ofa-mbv3/3`` -> ``ofa-mbv3``."""
    return str(network).rsplit("/", 1)[0].removeprefix("nets_")


def per_family(per_network: pd.DataFrame) -> pd.DataFrame:
    """Per family and split (``hardware``: unseen hardware, ``networks``: held-out networks), from an
    evaluation's per-network table: networks, rows, MAPE of P over the rows (%), the worst network."""
    frame = per_network.assign(family=per_network["network"].map(family_of),
                               weighted=per_network["mape_pct"] * per_network["n"])
    rows = []
    for (family, split), group in frame.groupby(["family", "split"], sort=True):
        worst = group.loc[group["mape_pct"].idxmax()]
        rows.append({"family": family, "split": str(split).removeprefix("unseen_"), "networks": len(group),
                     "rows": int(group["n"].sum()), "mape_pct": float(group["weighted"].sum() / group["n"].sum()),
                     "worst_network": str(worst["network"]), "worst_mape_pct": float(worst["mape_pct"])})
    return pd.DataFrame(rows)


def cross_family_figure(families: pd.DataFrame, zoo: pd.DataFrame | None) -> Figure:
    """Left: MAPE of P per family, unseen hardware and held-out networks side by side. Right: MAPE of
    P per zoo network (hatched where the out-of-domain guard warned)."""
    with styled():
        fig, axes = new_figure(1, 2 if zoo is not None and len(zoo) else 1, width=11.0, height=4.2)
        names = sorted(families["family"].unique())
        x = np.arange(len(names))
        for i, (split, label) in enumerate(SPLIT_LABELS.items()):
            part = families[families["split"] == split].set_index("family").reindex(names)
            bars = axes[0].bar(x + (i - 0.5) * 0.38, part["mape_pct"], width=0.38, label=label, color=SPLIT_COLORS[label])
            axes[0].bar_label(bars, fmt="%.1f", fontsize=8)
        axes[0].set_xticks(x, names)
        axes[0].set(title="Per search-space family", xlabel="network family", ylabel="MAPE of P (%)")
        axes[0].legend(loc="upper left", ncols=2)
        if len(axes) > 1:
            _zoo_bars(axes[1], zoo)
        for ax in axes:
            ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the bar labels and the legend
        fig.suptitle("Predictor error across network families and on zoo networks never trained on")
    return fig


def _zoo_bars(ax, zoo: pd.DataFrame) -> None:
    warned = zoo["out_of_domain"].fillna("").astype(str) != ""
    bars = ax.bar(np.arange(len(zoo)), zoo["mape_pct"].astype(float), color="#9467bd")
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    for bar, flag in zip(bars, warned):
        if flag:
            bar.set_hatch("//")
            bar.set_facecolor("#c5b0d5")
    ax.set_xticks(np.arange(len(zoo)), [n.split(":", 1)[-1] for n in zoo["network"]], rotation=20)
    ax.set(title="Zoo networks (hatched: out-of-domain warning)", xlabel="network", ylabel="MAPE of P (%)")


def cross_family_section(run: RunArtifacts | None) -> Section:
    section = Section("Predictor across network families",
                      intro="The error of P per search-space family, on held-out networks and on unseen hardware, "
                            "and on zoo networks imported without weights and never trained on, scored against "
                            "the oracle.")
    per_network = (run.evaluation or {}).get("per_network") if run is not None else None
    if not per_network:
        section.omitted = "no per-network evaluation in the run folder (`hwpower train` or `hwpower evaluate`)."
        return section
    families = per_family(pd.DataFrame(per_network))
    zoo = pd.DataFrame(run.zoo["networks"]) if run.zoo else None
    section.items.append(FigureItem("cross_family", cross_family_figure(families, zoo),
                                    "MAPE of P per family and per zoo network."))
    section.items.append(TableItem("error_by_family", families, "Error of P per family and split (%)",
                                   caption="" if zoo is not None else "No zoo networks: the run folder has no "
                                   "zoo.json (written by `hwpower demo`)."))
    if zoo is None:
        return section
    meta = f"{run.zoo.get('hardware_configurations', '?')} hardware configurations of the default space per network"
    section.items.append(TableItem("zoo_errors", zoo, "Error of P on zoo networks never trained on (%)",
                                   caption=f"{meta}; out_of_domain: the guard's one-line warning."))
    return section
