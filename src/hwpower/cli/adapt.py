"""``hwpower adapt``: fit a trained predictor to a new truth from a few measured rows."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, console, user_errors
from .tables import evaluation_table


def adapt(
    run_dir: Path = typer.Argument(..., help="Source run folder (hwpower train)."),
    data: Path = typer.Option(..., "--data", help="Processed dataset of the new truth: its training rows adapt "
                              "the model; its validation rows, if any, score it before and after."),
    out: Path = typer.Option(..., "--out", help="Adapted run folder: new, empty, or a previous adapt output "
                             "(replaced with --force)."),
    kind: str = typer.Option("affine-hw", help="Correction of the log outputs per trained target: bias, affine "
                             "or affine-hw (also linear in the normalised hardware; the default, best measured)."),
    alpha: float = typer.Option(0.1, min=0.0, help="Ridge strength pulling the correction towards the source model."),
    rows: int = typer.Option(None, min=2, help="Use this many random training rows of --data (default: all)."),
    seed: int = typer.Option(0, help="Seed of the --rows draw."),
    force: bool = FORCE,
) -> None:
    """Adapt a predictor to a new source of measurements (few-shot: 10-100 rows)."""
    from ..io import check_output_dir
    from ..model.adapt import adapt_run, log_error_summary
    from ..model.evaluate import evaluate, write_evaluation
    from ..processing import load_processed
    from ..runstate import warn_if_incomplete

    with user_errors():
        check_output_dir(out, command="adapt", force=force, inputs=[run_dir, data])  # fail fast
        warn_if_incomplete(run_dir)
        ds = load_processed(data)
        adapted, prov = adapt_run(run_dir, ds, out, kind=kind, alpha=alpha, rows=rows, seed=seed, force=force,
                                  data_dir=data)
        ev = None
        if len(ds.val):
            main = "P" if "P" in adapted.targets else adapted.targets[0]
            before = adapted.predict(ds.val, ds, out_of_range="ignore", source="val.parquet", raw=True)
            after = adapted.predict(ds.val, ds, out_of_range="ignore", source="val.parquet")
            b, a = log_error_summary(ds.val, before, main), log_error_summary(ds.val, after, main)
            console.print(f"{main} on the {len(ds.val)} validation rows of {data}: MAPE {b['mape_pct']:.2f} % -> "
                          f"{a['mape_pct']:.2f} %, Spearman {b['spearman']:.4f} -> {a['spearman']:.4f}")
            ev = evaluate(adapted, ds)
            write_evaluation(ev, out)
    if ev is not None:
        console.print(evaluation_table(ev))
    console.print(f"adapted on {prov['rows_used']} rows ({prov['kind']}); run written to {out}")


def register(app: typer.Typer) -> None:
    app.command("adapt")(adapt)
