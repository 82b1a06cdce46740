"""``hwpower report`` and ``hwpower stats``: the analysis pages (parsing only; see hwpower.report)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, console, user_errors


def report(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder (from `hwpower process`)."),
    run: Path | None = typer.Option(None, "--run", help="Run folder (from `hwpower train`; evaluation, experiments, searches)."),
    out: Path = typer.Option(..., "--out", help="Report folder to write (report.html, PNGs, CSVs): new, empty, or "
                             "a previous report (with --force; replaced as a whole)."),
    seed: int = typer.Option(0, help="Seed of the k-means and PCA subsampling; same seed, same report."),
    force: bool = FORCE,
) -> None:
    """Write a self-contained HTML report with the data, per-network, predictor and search analysis."""
    from ..io import check_output_dir
    from ..report import build_report

    with user_errors():
        check_output_dir(out, command="report", force=force, inputs=[processed_dir, run])
        page = build_report(processed_dir, out, run, seed=seed)
    console.print(f"report written to {page}")


def stats(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder (from `hwpower process`)."),
    out: Path = typer.Option(..., "--out", help="Folder to write (report.html, PNGs, CSVs, kmeans_starts.json): new, "
                             "empty, or a previous `hwpower stats` output (with --force)."),
    seed: int = typer.Option(0, help="Seed of the k-means and PCA subsampling."),
    force: bool = FORCE,
) -> None:
    """Data statistics only: power histograms, hardware PCA, k-means starting points, power per network."""
    from ..io import check_output_dir
    from ..report import STARTS_FILE, build_stats

    with user_errors():
        check_output_dir(out, command="stats", force=force, inputs=[processed_dir])
        page = build_stats(processed_dir, out, seed=seed)
    console.print(f"statistics written to {page}; k-means starting points in {page.parent / STARTS_FILE}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("stats")(stats)
