"""``hwpower report`` and ``hwpower stats``: the analysis pages (parsing only; see hwpower.report)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import console, user_errors


def report(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder (from `hwpower process`)."),
    run: Path | None = typer.Option(None, "--run", help="Run folder (from `hwpower train`; evaluation, experiments, searches)."),
    out: Path = typer.Option(..., "--out", help="Report folder to write (report.html, PNGs, CSVs); replaced as a whole."),
    seed: int = typer.Option(0, help="Seed of the k-means and PCA subsampling; same seed, same report."),
) -> None:
    """Write a self-contained HTML report with the data, per-network, predictor and search analysis."""
    from ..report import build_report

    with user_errors():
        page = build_report(processed_dir, out, run, seed=seed)
    console.print(f"report written to {page}")


def stats(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder (from `hwpower process`)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (report.html, PNGs, CSVs, kmeans_starts.json)."),
    seed: int = typer.Option(0, help="Seed of the k-means and PCA subsampling."),
) -> None:
    """Data statistics only: power histograms, hardware PCA, k-means starting points, power per network."""
    from ..report import STARTS_FILE, build_stats

    with user_errors():
        page = build_stats(processed_dir, out, seed=seed)
    console.print(f"statistics written to {page}; k-means starting points in {page.parent / STARTS_FILE}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("stats")(stats)
