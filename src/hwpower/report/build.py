"""Assemble the report: data statistics, per-network statistics, and what a run folder holds.

``build_report`` is what ``hwpower report`` and the demo call; ``build_stats`` is the run-free part
(``hwpower stats``), which also saves the k-means starting points the search reads.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from ..errors import InputError
from ..io import check_output_dir
from ..oracle.space import HardwareSpace
from ..processing import ProcessedDataset, load_processed
from .data_stats import hardware_pca, pca_figure, pca_tables, power_histograms, power_summary
from .kmeans import StartPoints, centroids_table, edge_note, hardware_kmeans, kmeans_figure, kmeans_scores
from .network_stats import power_by_network, power_by_network_figure
from .page import FigureItem, Section, TableItem, write_report
from .cross_family import cross_family_section
from .pareto import pareto_section
from .predictor import experiments_section, predictor_sections, search_section
from .artifacts import RunArtifacts, read_run

log = logging.getLogger(__name__)

# beside the report, in the search's own StartPoints format (the search keeps its copy in RUN/search/starts.json)
STARTS_FILE = "kmeans_starts.json"


def space_of(ds: ProcessedDataset) -> HardwareSpace:
    """The hardware space the data was drawn from (recorded by ``hwpower process``), else the default."""
    raw = (ds.manifest.get("raw_manifest") or {}).get("space")
    if raw is None:
        log.info("processed manifest records no hardware space: using the default space")
        return HardwareSpace.default()
    return HardwareSpace.from_dict(raw, file="manifest.json (raw_manifest.space)")


def dataset_section(ds: ProcessedDataset) -> Section:
    unseen = ds.unseen_network_mask()
    counts = pd.DataFrame({
        "quantity": ["train samples", "val samples", "val samples, unseen hardware", "val samples, unseen network",
                     "networks", "train networks", "val networks never in train"],
        "value": [len(ds.train), len(ds.val), int((~unseen).sum()), int(unseen.sum()), len(ds.networks),
                  ds.train["network"].nunique(), ds.val.loc[unseen, "network"].nunique()],
    })
    return Section("Dataset", [
        TableItem("dataset_counts", counts, "Samples and networks"),
        TableItem("power_summary", power_summary(ds), "Power per split (W)"),
        FigureItem("power_histograms", power_histograms(ds),
                   "Distributions of P, P_core and P_bw in train and val (stats_data, step 1)."),
    ], intro="The processed dataset: sample counts, and the power distributions of the seed's stats_data notebook.")


def hardware_section(ds: ProcessedDataset, space: HardwareSpace, seed: int) -> tuple[Section, StartPoints]:
    starts = hardware_kmeans(ds, space, seed=seed)
    pca = hardware_pca(ds, space, seed=seed)
    tables = pca_tables(pca)
    section = Section("Hardware parameters: PCA and k-means", [
        FigureItem("hardware_pca", pca_figure(pca, starts),
                   "PCA of the numeric hardware parameters (stats_data, step 2), with the k-means starting points."),
        TableItem("pca_variance", tables["pca_variance"], "Explained variance per component"),
        TableItem("pca_loadings", tables["pca_loadings"], "PCA loadings (unit-cube coordinates)"),
        FigureItem("kmeans_choice", kmeans_figure(starts),
                   "Choice of k for the k-means on the training hardware (stats_data, step 3)." + edge_note(starts)),
        TableItem("kmeans_scores", kmeans_scores(starts), "k-means scores per k"),
        TableItem("kmeans_centroids", centroids_table(starts),
                  "k-means centroids in hardware units: the search's starting points",
                  caption=f"Saved as {STARTS_FILE}, the file the search reads as starting points."),
    ])
    return section, starts


def network_power_section(ds: ProcessedDataset) -> Section:
    table = power_by_network(ds)
    return Section("Power per network", [
        FigureItem("power_by_network", power_by_network_figure(table),
                   "P_core and P_bw per network in train and val (stats_by_network, step 1)."),
        TableItem("power_by_network", table, "Power quartiles per network and split (W)"),
    ])


def _stats_sections(ds: ProcessedDataset, space: HardwareSpace, seed: int,
                    step: Callable[[str], None]) -> tuple[list[Section], StartPoints]:
    step("dataset statistics")
    sections = [dataset_section(ds)]
    step("hardware PCA and k-means")
    hw, starts = hardware_section(ds, space, seed)
    sections.append(hw)
    step("power per network")
    sections.append(network_power_section(ds))
    return sections, starts


def build_report(processed_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 run_dir: str | os.PathLike[str] | None = None, *, predictions: pd.DataFrame | None = None,
                 space: HardwareSpace | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Write the report folder (``report.html``, PNGs, CSVs, the k-means starts) and return the page.

    ``predictions``: validation predictions (one row per val row, a column per predicted target);
    when absent and ``run_dir`` holds a trained predictor, they are computed with it.
    """
    processed_dir, out_dir = Path(processed_dir), Path(out_dir)
    check_output_dir(out_dir, command="report", force=True, inputs=[processed_dir, run_dir])
    with _Steps("report", 6, progress) as step:
        step("load data")
        ds = load_processed(processed_dir)
        if predictions is not None and len(predictions) != len(ds.val):
            raise InputError(f"expected {len(ds.val)} predictions (one per val row), got {len(predictions)}")
        run: RunArtifacts | None = read_run(run_dir) if run_dir else None  # a bad run file fails early
        sections, starts = _stats_sections(ds, space or space_of(ds), seed, step)
        step("predictor")
        sections += predictor_sections(ds, run, predictions)
        sections.append(cross_family_section(run))
        sections.append(experiments_section(run))
        sections.append(search_section(run))
        if run is not None and any(d.get("front") for d in run.searches.values()):
            sections.append(pareto_section(run.searches))
        step("write")
        page = write_report(out_dir, "hwpower report", sections, _meta(processed_dir, run_dir), _starts_file(starts),
                            command="report")
    return page


def build_stats(processed_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                space: HardwareSpace | None = None, seed: int = 0, progress: bool = True) -> Path:
    """The data and per-network statistics only (no run): the same page, PNGs, CSVs and k-means starts."""
    processed_dir, out_dir = Path(processed_dir), Path(out_dir)
    check_output_dir(out_dir, command="stats", force=True, inputs=[processed_dir])
    with _Steps("statistics", 5, progress) as step:
        step("load data")
        ds = load_processed(processed_dir)
        sections, starts = _stats_sections(ds, space or space_of(ds), seed, step)
        step("write")
        page = write_report(out_dir, "hwpower data statistics", sections, _meta(processed_dir, None),
                            _starts_file(starts), command="stats")
    return page


class _Steps:
    """A progress bar over named steps: calling it with a step's name completes the previous one."""

    def __init__(self, title: str, total: int, enabled: bool):
        self.title, self.total = title, total
        self.bar = Progress(disable=not enabled)
        self.started = 0

    def __enter__(self) -> _Steps:
        self.bar.__enter__()
        self.task = self.bar.add_task(self.title, total=self.total)
        return self

    def __call__(self, name: str) -> None:
        self.bar.update(self.task, description=f"{self.title}: {name}", completed=self.started)
        self.started += 1

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.bar.update(self.task, description=f"{self.title}: done", completed=self.total)
        self.bar.__exit__(*exc)


def _starts_file(starts: StartPoints) -> dict[str, bytes]:
    return {STARTS_FILE: (json.dumps(starts.to_dict(), indent=2) + "\n").encode()}


def _meta(processed_dir: Path, run_dir) -> dict[str, str]:
    meta = {"processed data": str(processed_dir)}
    if run_dir:
        meta["run"] = str(run_dir)
    return meta
