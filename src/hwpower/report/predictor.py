"""Report sections from a run folder: training, evaluation, per-network error, experiments, searches."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import InputError
from ..processing import ProcessedDataset
from .network_stats import error_correlations, error_vs_features_figure, errors_by_network, errors_by_network_figure, val_errors
from .figures import SPLIT_COLORS, new_figure, styled
from .page import FigureItem, Section, TableItem
from .artifacts import RUN_FIGURES, RunArtifacts, evaluation_metrics, json_tables

log = logging.getLogger(__name__)


def predict_val(run_dir, ds: ProcessedDataset) -> pd.DataFrame:
    """Predictions of the run's trained predictor for every val row (a column per output: W, ms, mJ)."""
    from ..model import Predictor  # the model package pulls in torch: imported only when needed

    return Predictor.load(run_dir).predict(ds.val, ds, out_of_range="ignore", source="val.parquet")


def power_prediction(predictions: pd.DataFrame, n_rows: int) -> np.ndarray:
    """Predicted P per val row: the ``P`` column, or ``P_core + P_bw`` for a two-output model."""
    if len(predictions) != n_rows:
        raise InputError(f"expected {n_rows} predictions (one per val row), got {len(predictions)}")
    if "P" in predictions:
        return predictions["P"].to_numpy(float)
    if {"P_core", "P_bw"} <= set(predictions.columns):
        return (predictions["P_core"] + predictions["P_bw"]).to_numpy(float)
    raise InputError(f"predictions have no P (nor P_core and P_bw) column: {list(predictions.columns)}")


def learning_curve_figure(history: pd.DataFrame) -> Figure:
    """Loss and validation MAPE per epoch, for a run folder without its own curves.png."""
    with styled():
        fig, (ax_loss, ax_mape) = new_figure(1, 2, width=11.0, height=3.8)
        for col, color in (("train_loss", SPLIT_COLORS["train"]), ("val_loss", SPLIT_COLORS["val"])):
            if col in history:
                ax_loss.plot(history["epoch"], history[col], "o-", ms=3, color=color, label=col.replace("_", " "))
        ax_loss.set_yscale("log")
        ax_loss.set_title("Loss")
        ax_loss.set_ylabel("mean squared log error (-)")
        ax_loss.legend()
        if "val_mape_pct" in history:
            ax_mape.plot(history["epoch"], history["val_mape_pct"], "o-", ms=3, color=SPLIT_COLORS["val"])
        ax_mape.set_title("Validation error during training")
        ax_mape.set_ylabel("validation MAPE (%)")
        for ax in (ax_loss, ax_mape):
            ax.set_xlabel("epoch")
        fig.suptitle("Training history")
    return fig


def per_network_items(ds: ProcessedDataset, predicted_p: np.ndarray) -> list[FigureItem | TableItem]:
    """The seed's stats_by_network steps 2 and 3 for predictions of P on the val rows."""
    errors = val_errors(ds, predicted_p, "P")
    per = errors_by_network(ds, errors)
    corr = error_correlations(per)
    summary = errors.groupby("split")["abs_error_pct"].agg(
        n="size", mape_pct="mean", median_ape_pct="median", p90_ape_pct=lambda s: s.quantile(0.9)).reset_index()
    return [
        TableItem("val_error_by_split", summary, "Error of P on val: unseen hardware vs unseen networks (%)"),
        FigureItem("error_by_network", errors_by_network_figure(per),
                   "Predictor error per validation network (stats_by_network, step 2)."),
        TableItem("error_by_network", per, "Error per validation network, with its size"),
        FigureItem("error_vs_network_size", error_vs_features_figure(per, corr),
                   "Error against #FLOPs, #weights, depth and input resolution (stats_by_network, step 3)."),
        TableItem("error_size_correlations", corr, "Spearman rank correlation of per-network error with size",
                  caption="rho > 0: larger networks are predicted worse. Small p-values need many networks."),
    ]


def _training_items(run: RunArtifacts) -> list[FigureItem | TableItem]:
    items: list[FigureItem | TableItem] = []
    if "curves" in run.figures:
        items.append(FigureItem.from_file("run_curves", run.figures["curves"], RUN_FIGURES["curves"]))
    elif run.history is not None and len(run.history):
        items.append(FigureItem("training_history", learning_curve_figure(run.history), "Loss and validation error per epoch."))
    if "parity" in run.figures:
        items.append(FigureItem.from_file("run_parity", run.figures["parity"], RUN_FIGURES["parity"]))
    if run.evaluation is not None:
        model = run.evaluation.get("model", "?")
        items.append(TableItem("evaluation_metrics", evaluation_metrics(run.evaluation),
                               f"Evaluation of the {model} model per split and target",
                               caption="Errors in %; within_5/10_pct: share of rows within ±5/±10 %. From evaluation.json."))
        for split, rows in (run.evaluation.get("worst") or {}).items():
            if rows:
                items.append(TableItem(f"evaluation_worst_{split}", pd.DataFrame(rows), f"Worst rows, {split}"))
    return items


def predictor_sections(ds: ProcessedDataset, run: RunArtifacts | None, predictions: pd.DataFrame | None) -> list[Section]:
    if run is None and predictions is None:
        return [Section("Predictor", omitted="no run folder given (pass --run RUN_DIR to include the predictor).")]
    training = Section("Predictor: training and evaluation", _training_items(run) if run else [])
    if not training.items:
        training.omitted = ("the run folder has no history.json, curves.png or evaluation.json "
                            "(`hwpower train`, `hwpower evaluate`)." if run else "no run folder given.")
    per_net = Section("Predictor error per network")
    if predictions is None:
        if not run.has_predictor:
            per_net.omitted = f"no trained predictor in {run.run_dir} (best/meta.json missing)."
            return [training, per_net]
        predictions = predict_val(run.run_dir, ds)
    per_net.items = per_network_items(ds, power_prediction(predictions, len(ds.val)))
    return [training, per_net]


def experiments_section(run: RunArtifacts | None) -> Section:
    section = Section("Experiments: model sizes and data need")
    if run is None or not run.experiments:
        section.omitted = ("no sizes.json or data.json in the run folder or its experiments/ "
                           "(`hwpower experiment sizes|data --out RUN/experiments`)." if run else "no run folder given.")
        return section
    titles = {"sizes": "Validation error against model size", "data": "Validation error against training-set size"}
    for name, data in run.experiments.items():
        if name in run.experiment_figures:
            section.items.append(FigureItem.from_file(f"experiment_{name}", run.experiment_figures[name], titles[name] + "."))
        verdict = (data.get("verdict") or {}).get("message", "")
        section.items.append(TableItem(f"experiment_{name}", pd.DataFrame(data["rows"]), titles[name],
                                       caption=f"{data.get('arch', '')} model. {verdict}".strip()))
    return section


def search_section(run: RunArtifacts | None) -> Section:
    section = Section("Hardware search: recover, identify, design")
    if run is None or not run.searches:
        section.omitted = ("no recover, identify or design result in the run folder "
                           "(save them with `--out RUN/search/NAME.json`)." if run else "no run folder given.")
        return section
    for stem, data in run.searches.items():
        verified = "oracle-verified" if data.get("verified") else "not verified by the oracle"
        # the k-means choice is in the hardware section already
        for name, table in json_tables(data, skip=("meta.k_choice", "hwpower_version")).items():
            section.items.append(TableItem(f"{_slug(stem)}_{_slug(name)}", table, f"{data['task']} ({stem}): {name}",
                                           caption=verified if name == "candidates" else ""))
    return section


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_") or "table"
