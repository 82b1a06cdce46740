"""The Pareto front of a multi-objective design: 2-D projections of every pair of objectives (the
verified candidates in grey, the front in colour, the knee point starred), and the report section
built from design results saved in the run folder (``hwpower design ... --objectives ... --out``)."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..search.pareto import UNITS
from .figures import new_figure, spans_decades, styled
from .page import FigureItem, Section, TableItem

LABELS = {"P": "power P", "P_core": "core power", "P_bw": "DRAM power", "latency_ms": "latency",
          "energy_mj": "energy", "area_mm2": "chip area"}


def _label(name: str) -> str:
    return f"{LABELS.get(name, name)} ({UNITS.get(name, '')})"


def front_figure(candidates: pd.DataFrame, objectives: list[str], *, verified: bool = True, title: str = "") -> Figure:
    """Every pair of objectives: infeasible (light x) and dominated (grey) candidates, the front
    (blue) and its knee (red star); objective values are sums over the design's networks."""
    prefix = "oracle_" if verified else "pred_"
    pairs = list(itertools.combinations(objectives, 2))
    with styled():
        fig, axes = new_figure(1, len(pairs), width=4.6 * len(pairs) + 0.6, height=4.2)
        on = candidates["on_front"].to_numpy(bool)
        knee = candidates["knee"].to_numpy(bool)
        ok = candidates[prefix + "feasible"].to_numpy(bool)
        for ax, (a, b) in zip(axes, pairs):
            x, y = candidates[prefix + a].to_numpy(float), candidates[prefix + b].to_numpy(float)
            if (~ok).any():
                ax.scatter(x[~ok], y[~ok], s=12, marker="x", c="0.8", label="misses a constraint")
            ax.scatter(x[ok & ~on], y[ok & ~on], s=10, c="0.45", label="feasible, dominated")
            ax.scatter(x[on], y[on], s=16, c="#1f77b4", label="Pareto front")
            ax.scatter(x[knee], y[knee], s=160, marker="*", c="#d62728", edgecolors="k", zorder=3, label="knee point")
            for axis, v in (("x", x), ("y", y)):
                if spans_decades(v):
                    getattr(ax, f"set_{axis}scale")("log")
            ax.set_xlabel(_label(a))
            ax.set_ylabel(_label(b))
            ax.set_title(f"{LABELS.get(b, b)} vs {LABELS.get(a, a)}")
        axes[0].legend(loc="best")
        fig.suptitle(title or f"Pareto front ({', '.join(objectives)}; {'oracle-verified' if verified else 'predicted'})")
    return fig


def pareto_section(searches: dict[str, dict[str, Any]]) -> Section:
    """One figure and front table per multi-objective design result (JSON as saved by ``--out``)."""
    section = Section("Pareto design", intro=(
        "Multi-objective designs: every candidate verified by the oracle; the front is computed on the "
        "oracle's values. The knee point is the front point nearest to the ideal point once each "
        "objective is scaled to [0, 1] over the front."))
    for stem, data in searches.items():
        objectives = (data.get("meta") or {}).get("objectives")
        if not data.get("front") or not objectives:
            continue
        cands = pd.DataFrame(data["candidates"])
        verified = bool(data.get("verified"))
        slug = "".join(c if c.isalnum() else "_" for c in stem)
        section.items.append(FigureItem(f"pareto_{slug}", front_figure(cands, objectives, verified=verified,
                                                                        title=f"Pareto front: {stem}"),
                                        caption=f"{len(data['front'])} front points of {len(cands)} candidates"))
        front = pd.DataFrame(data["front"])
        keep = [c for c in front.columns if not c.startswith(("pred_feasible", "oracle_feasible", "on_front"))]
        section.items.append(TableItem(f"pareto_{slug}_front", front[keep], f"Pareto front: {stem}"))
    if not section.items:
        section.omitted = ("no multi-objective design in the run folder (save one with "
                           "`hwpower design RUN ... --objectives P,latency_ms,area_mm2 --verify --out RUN/search/pareto.json`).")
    return section


def knee_summary(front: pd.DataFrame, objectives: list[str], prefix: str) -> str:
    """One line: the knee point's objective values with units."""
    row = front[front["knee"]]
    if row.empty:
        return "no front"
    r = row.iloc[0]
    return ", ".join(f"{o} = {float(r[prefix + o]):.4g} {UNITS.get(o, '')}" for o in objectives)

