"""``hwpower train``, ``predict``, ``evaluate`` and ``experiment sizes|data``: the power predictor."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from ..errors import InputError
from ..plausibility import hardware_warnings, network_warnings, warn_all
from ..runstate import warn_if_incomplete
from .common import FORCE, FORCE_FILE, console, err_console, parse_assignments, print_python_warning, user_errors
from .tables import evaluation_table

experiment_app = typer.Typer(help="The seed's experiments: random model sizes, and whether more data helps.",
                             no_args_is_help=True)

MODEL_HELP = "structured (per-operator, physics-shaped sums), mlp (the seed's flat MLP) or gbt (LightGBM)."
TARGETS_HELP = "Comma-separated trained outputs from P, P_core, P_bw, latency_ms, energy_mj (P = P_core + P_bw)."


def _targets(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def train(
    ctx: typer.Context,
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder (hwpower process)."),
    out: Path = typer.Option(..., "--out", help="Run folder (checkpoints, history, figures): new, empty, or a "
                             "previous run (replaced with --force, continued with --resume)."),
    model: str = typer.Option("structured", help=MODEL_HELP),
    targets: str = typer.Option("P_core,P_bw,latency_ms", help=TARGETS_HELP),
    elements: str = typer.Option(None, help="Network elements the neural models read: ops (operators; the structured "
                                 "model's default, any network), blocks (the mlp's default) or layers."),
    epochs: int = typer.Option(30, min=1, help="Maximum epochs (early stopping may end sooner)."),
    batch_size: int = typer.Option(512, min=1, help="Samples per gradient step."),
    lr: float = typer.Option(2e-3, min=0.0, help="Peak learning rate (AdamW, cosine decay)."),
    hidden: int = typer.Option(64, min=1, help="Width of the structured model's element encoder."),
    depth: int = typer.Option(2, min=1, help="Hidden layers of the structured model's element encoder."),
    patience: int = typer.Option(6, min=1, help="Epochs without validation improvement before stopping."),
    trees: int = typer.Option(2000, min=1, help="gbt: maximum boosting rounds per target (early stopping)."),
    seed: int = typer.Option(0, help="Random seed; same seed, same result on CPU."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    threads: int = typer.Option(0, min=0, help="CPU threads for torch (0: torch's default). 1 avoids "
                                "oversubscription on a busy shared machine."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    stream: bool = typer.Option(None, "--stream/--no-stream", help="Read the training rows batch by batch from "
                                "Parquet instead of into memory (default: only when the dataset would not fit; "
                                "docs/scale.md)."),
    force: bool = FORCE,
) -> None:
    """Train a power predictor on a processed dataset."""
    from ..io import check_output_dir
    from ..model.evaluate import evaluate, write_evaluation
    from ..model.runner import train_model
    from ..processing import load_processed
    from ..search.run_context import prepare as prepare_search

    if threads:
        import torch

        torch.set_num_threads(threads)
    with user_errors():
        check_output_dir(out, command="train", force=force, inputs=[processed_dir], reuse=resume)  # fail fast
        if resume:
            _check_resume(ctx, out, model=model, targets=_targets(targets), elements=elements, epochs=epochs,
                          batch_size=batch_size, lr=lr, hidden=hidden, depth=depth, patience=patience, seed=seed)
        ds = load_processed(processed_dir, stream="auto" if stream is None else stream, seed=seed)
        params = dict(targets=_targets(targets), seed=seed)  # each model's own parameters only (make_model)
        if model == "gbt":
            params.update(n_estimators=trees, n_jobs=threads or 2)
        else:
            params.update(epochs=epochs, batch_size=batch_size, lr=lr, elements=elements, hidden=hidden,
                          depth=depth, patience=patience, device=device)
        predictor = train_model(ds, model, run_dir=out, resume=resume, force=force, progress=not quiet,
                                **({"device": device} if resume else params))
        ev = evaluate(predictor, ds)
        write_evaluation(ev, out)
        # What recover / identify / design need (hardware space, k-means starts, training domain),
        # saved now so that they run on this folder as written, with no --data.
        try:
            prepare_search(out, processed_dir, seed=seed, ds=ds)
        except InputError as exc:  # the run itself is complete and usable; only the search set-up is missing
            err_console.print(f"[yellow]warning:[/] search data not saved with the run ({exc}); "
                              "recover / identify / design will need --data", highlight=False, soft_wrap=True)
    console.print(evaluation_table(ev))
    console.print(f"run written to {out}")


def _check_resume(ctx: typer.Context, run_dir: Path, **values) -> None:
    """--resume with an option given on the command line that differs from the saved run: an error."""
    from ..model.runner import saved_params
    from ..runstate import check_resume_options

    def typed(name: str) -> bool:  # by name: typer vendors its own click, whose ParameterSource is another enum
        source = ctx.get_parameter_source(name)
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    given = {k: v for k, v in values.items() if typed(k)}
    if given and (run_dir / "last").is_dir():
        arch, saved = saved_params(run_dir)
        check_resume_options({"arch": arch, **saved}, given, run_dir)


def predict(
    run_dir: Path = typer.Argument(..., help="Run folder from hwpower train."),
    nets: list[Path] = typer.Option(None, "--nets", help="nets_*.json file(s); network keys are STEM/ID."),
    net_id: int = typer.Option(None, "--id", help="Network id in --nets, for a single prediction."),
    hw: str = typer.Option(None, "--hw", help="Hardware, e.g. pe_rows=16,pe_cols=16,...,bits=8,dataflow=ws."),
    input: Path = typer.Option(None, "--input", help="Batch input table (.parquet, .csv or whitespace .txt)."),
    processed: Path = typer.Option(None, "--processed", help="Processed dataset whose networks --input refers to."),
    out: Path = typer.Option(None, "--out", help="Batch output (.parquet or .csv); replaced only with --force."),
    strict: bool = typer.Option(False, "--strict", help="Refuse (exit 2) hardware outside the trained range, networks "
                                "outside the training data's support and implausible predictions (default: warn)."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    interval: float = typer.Option(None, min=0.0, max=1.0, help="Prediction interval to print or write (e.g. 0.9; "
                                   "default 0.9 when the run is calibrated, 0 for none): columns *_lo, *_hi, "
                                   "rel_halfwidth."),
    compile: bool = typer.Option(False, "--compile", help="With --input: run the neural model through torch.compile "
                                 "(1.5-2.5x faster on CPU after 5-20 s of compiling; needs a C++ compiler)."),
    force: bool = FORCE_FILE,
) -> None:
    """Predict power (W), latency (ms) and energy (mJ) for one configuration or a table of them."""
    from ..io import check_output_file
    from .predict_inputs import load_networks, predict_batch, predict_single
    from ..model.encoding import OutOfRangeWarning
    from ..model.predictor import Predictor

    with user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutOfRangeWarning)
        warn_if_incomplete(run_dir)
        predictor = Predictor.load(run_dir, device=device)
        policy = "error" if strict else "warn"
        if interval is None:
            interval = 0.9 if predictor.calibration is not None else 0.0
        level = interval or None
        if input is not None:
            if out is None:
                raise InputError("--input needs --out")
            check_output_file(out, force=force, inputs=[input, processed, run_dir / "best", *(nets or [])])
            n = predict_batch(predictor, input, out, nets=nets or [], processed=processed, out_of_range=policy,
                              interval=level, compile=compile)
            _show_warnings(caught)
            console.print(f"wrote {n} predictions to {out}")
            return
        if not nets or net_id is None or hw is None:
            raise InputError("give --nets FILE --id N --hw name=value,... (or --input FILE --out FILE)")
        assignments, networks = parse_assignments(hw, what="--hw"), load_networks(nets)
        warn_all([*hardware_warnings(assignments, "--hw"),
                  *(w for key, net in networks.items() for w in network_warnings(net, key))])
        result = predict_single(predictor, networks, net_id, assignments, out_of_range=policy, interval=level)
    _show_warnings(caught)
    for name in predictor.targets:
        band = f"  ({level:.0%} interval {result[name + '_lo']:.4g} to {result[name + '_hi']:.4g})" if level else ""
        console.print(f"{name} = {result[name]:.6g}{band}", highlight=False)


def _show_warnings(caught: list) -> None:
    for w in caught:
        print_python_warning(w.message, w.category)


def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder from hwpower train."),
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder."),
    out: Path = typer.Option(None, "--out", help="Folder for evaluation.json/.txt and per_network.parquet "
                             "(default: RUN_DIR, whose own evaluation is updated); elsewhere existing ones are replaced only with --force."),
    force: bool = FORCE_FILE,
) -> None:
    """Score a trained model on unseen hardware and held-out networks (JSON + readable table)."""
    from ..io import check_output_file, is_output_of
    from ..model.evaluate import evaluate, evaluation_paths, write_evaluation
    from ..model.predictor import Predictor
    from ..processing import load_processed

    with user_errors():
        # A training run's own evaluation files are the run's to update; elsewhere replacing needs --force.
        own = out is None and is_output_of(run_dir, "train")
        for path in evaluation_paths(out or run_dir).values():
            check_output_file(path, force=force or own, inputs=[processed_dir, run_dir / "best"])
        warn_if_incomplete(run_dir)
        ev = evaluate(Predictor.load(run_dir), load_processed(processed_dir))
        paths = write_evaluation(ev, out or run_dir)
    console.print(evaluation_table(ev))
    console.print(f"wrote {paths['json']}, {paths['txt']} and {paths['out_of_domain']} ({len(ev.out_of_domain)} "
                  "operator features outside the training support)")


def _check_experiment_out(out: Path, name: str, force: bool, processed_dir: Path) -> None:
    from ..io import check_output_file
    from ..model.experiments import experiment_paths

    for path in experiment_paths(out, name):
        check_output_file(path, force=force, inputs=[processed_dir])


@experiment_app.command("sizes")
def sizes(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder."),
    out: Path = typer.Option(..., "--out", help="Output folder: sizes.parquet/.json/.png (replaced with --force)."),
    n: int = typer.Option(6, "-n", min=1, help="Number of random models."),
    model: str = typer.Option("structured", help="structured or mlp."),
    epochs: int = typer.Option(10, min=1),
    targets: str = typer.Option("P_core,P_bw", help=TARGETS_HELP),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet"),
    force: bool = FORCE_FILE,
) -> None:
    """Train N models of random layer widths and depths; validation error against parameter count."""
    from ..model.experiments import sizes_experiment
    from ..processing import load_processed

    with user_errors():
        _check_experiment_out(out, "sizes", force, processed_dir)
        table = sizes_experiment(load_processed(processed_dir), n_models=n, arch=model, seed=seed, out_dir=out,
                                 progress=not quiet, epochs=epochs, targets=_targets(targets), device="cpu")
    console.print(table.to_string(index=False))
    console.print(f"wrote {out / 'sizes.png'}")


@experiment_app.command("data")
def data(
    processed_dir: Path = typer.Argument(..., help="Processed dataset folder."),
    out: Path = typer.Option(..., "--out", help="Output folder: data.parquet/.json/.png (replaced with --force)."),
    fractions: str = typer.Option("0.125,0.25,0.5,1", help="Comma-separated fractions of the training rows."),
    model: str = typer.Option("structured", help="structured or mlp."),
    epochs: int = typer.Option(10, min=1),
    targets: str = typer.Option("P_core,P_bw", help=TARGETS_HELP),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet"),
    force: bool = FORCE_FILE,
) -> None:
    """Train on growing fractions of the data; say whether the error curve has flattened."""
    from ..model.experiments import data_experiment
    from ..processing import load_processed

    with user_errors():
        try:
            fr = tuple(float(f) for f in fractions.split(",") if f.strip())
        except ValueError:
            raise InputError(f"fractions must be numbers, got {fractions!r}", where="--fractions") from None
        if not fr or any(not 0 < f <= 1 for f in fr):
            raise InputError(f"fractions must lie in (0, 1], got {fractions!r}", where="--fractions")
        _check_experiment_out(out, "data", force, processed_dir)
        table, verdict = data_experiment(load_processed(processed_dir), fractions=fr, arch=model, seed=seed,
                                         out_dir=out, progress=not quiet, targets=_targets(targets),
                                         **({} if model == "gbt" else {"epochs": epochs, "device": "cpu"}))
    console.print(table.to_string(index=False))
    console.print(verdict.message)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("evaluate")(evaluate_cmd)
    app.add_typer(experiment_app, name="experiment")
