"""The whole report: library call with predictions, and the CLI commands end to end."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import InputError
from hwpower.report import STARTS_FILE, build_report
from hwpower.search.starts import StartPoints

FIGURES = {"power_histograms", "hardware_pca", "kmeans_choice", "power_by_network", "error_by_network",
           "error_vs_network_size", "training_history", "run_parity", "cross_family"}


def test_full_report_has_every_figure_and_table(full_report, run_dir):
    folder = full_report.parent
    assert {p.stem for p in folder.glob("*.png")} == FIGURES
    html = full_report.read_text(encoding="utf-8")
    assert html.count("<img ") == len(FIGURES)
    assert (folder / "run_parity.png").read_bytes() == (run_dir / "parity.png").read_bytes()
    assert "Omitted" not in html
    errors = pd.read_csv(folder / "val_error_by_split.csv").set_index("split")
    assert errors["mape_pct"].to_numpy() == pytest.approx([10.0, 10.0])  # P_core + P_bw, both 10 % high
    assert pd.read_csv(folder / "search_design_candidates.csv")["oracle_P"].tolist() == [0.52]
    assert pd.read_csv(folder / "experiment_sizes.csv")["n_parameters"].tolist() == [1000, 4000]
    assert "still improving; more data would help" in html
    metrics = pd.read_csv(folder / "evaluation_metrics.csv").set_index(["split", "target"])
    assert metrics.loc[("unseen_networks", "P"), "mape_pct"] == 7.9
    assert len(metrics) == 3
    assert StartPoints.load(folder / STARTS_FILE).k >= 2
    families = pd.read_csv(folder / "error_by_family.csv").set_index(["family", "split"])
    assert families.loc[("0", "hardware"), "mape_pct"] == pytest.approx(7.0)  # (10 x 4 + 30 x 8) / 40 rows
    assert families.loc[("0", "hardware"), "worst_network"] == "nets_0/2"
    assert families.loc[("resnet", "networks"), "networks"] == 1
    zoo = pd.read_csv(folder / "zoo_errors.csv").set_index("network")
    assert zoo.loc["torchvision:alexnet", "ops_outside"] == 4 and "kernel=11" in html


def test_cli_report_and_stats(processed_dir, run_dir, full_report, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(processed_dir), "--run", str(run_dir), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "report written to" in res.output
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    # no checkpoint in the run: the per-network error is omitted with the reason; the rest is there
    assert re.search(r"Omitted: no trained predictor in .*best/meta.json missing", html)
    assert (tmp_path / "rep" / "training_history.png").is_file()
    assert (tmp_path / "rep" / "evaluation_metrics.csv").is_file()
    # same data, same seed: the statistics tables are byte-identical to the library call's
    for name in ("power_summary", "pca_loadings", "kmeans_scores", "kmeans_centroids", "power_by_network"):
        assert (tmp_path / "rep" / f"{name}.csv").read_bytes() == (full_report.parent / f"{name}.csv").read_bytes(), name
    res = runner.invoke(app, ["stats", str(processed_dir), "--out", str(tmp_path / "stats")])
    assert res.exit_code == 0, res.output
    assert {p.stem for p in (tmp_path / "stats").glob("*.png")} == {
        "power_histograms", "hardware_pca", "kmeans_choice", "power_by_network"}
    assert (tmp_path / "stats" / STARTS_FILE).is_file()


def test_cli_errors_name_the_problem(processed_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no manifest.json" in " ".join(res.output.split())
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["stats", str(processed_dir), "--out", str(keep)])
    assert res.exit_code == 2 and "not an output of `hwpower stats`" in " ".join(res.output.split())
    assert (keep / "notes.txt").read_text() == "mine"


def test_predictions_must_match_val(processed_dir, tmp_path):
    with pytest.raises(InputError, match="one per val row"):
        build_report(processed_dir, tmp_path / "r", predictions=pd.DataFrame({"P": np.ones(3)}), progress=False)
