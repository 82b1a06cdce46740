"""``hwpower demo``: the whole pipeline on the embedded default data, step by step, in one module.

Each step is a short call into the library; the demo adds only orchestration and printing (the
library is imported inside the steps, so that ``hwpower --help`` stays fast).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.rule import Rule

from .common import console, print_python_warning, print_warning, user_errors
from .tables import dataset_table, evaluation_table, frame_table

# Zoo networks never trained on, imported without weights: two whose operator kinds and sizes the
# demo's data covers, and AlexNet (11x11 kernels, 4096-wide layers) to show the out-of-domain warning.
ZOO = ("torchvision:resnet18", "torchvision:mobilenet_v2", "torchvision:alexnet")
ZOO_HARDWARE = 200  # configurations of the default space per zoo network
CROSS_FAMILY = {"mape_pct": ("MAPE", "{:.2f}"), "worst_network": ("worst network", ""),
                "worst_mape_pct": ("its MAPE", "{:.2f}"), "within_10_pct": ("≤10%", "{:.1f}"),
                "max_ape_pct": ("max", "{:.1f}"), "ops_outside": ("ops outside", "{:d}")}


@dataclass
class DemoResult:
    out_dir: Path
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.step_seconds.values())


@dataclass
class DemoContext:
    out_dir: Path
    console: Console
    epochs: int = 50
    state: dict = field(default_factory=dict)


def _step_networks(ctx: DemoContext) -> None:
    from ..networks import sample_networks
    from ..networks.reference import reference_networks
    from .network_tables import network_table, summary_table

    sampled = sample_networks("ofa-mbv3", 3, seed=0)
    ctx.console.print(summary_table(sampled, title="3 networks sampled from the OFA-MobileNetV3 space (seed 0)"))
    ctx.console.print(network_table(sampled[0], title="sampled network 0: blocks"))
    refs = reference_networks()
    ctx.console.print(summary_table(dict(enumerate(refs.values())), title="reference networks imported from torchvision"))
    ctx.console.print(network_table(refs["mobilenet_v2"], title="mobilenet_v2: blocks"))


def _step_generate(ctx: DemoContext) -> None:
    import pandas as pd

    from ..generate import example_config, generate

    raw = ctx.out_dir / "raw"
    manifest = generate(raw, example_config())
    ctx.state["raw"] = raw
    files = pd.DataFrame([(name, info["rows"]) for name, info in sorted(manifest["files"].items())],
                         columns=["file", "rows"])  # the sample shards, with their row counts
    ctx.console.print(frame_table(files, f"raw data written to {raw} (the embedded default: examples/data/raw)",
                                  {"rows": ("rows", "{:,}")}))
    ctx.console.print(f"held-out networks (only in val): {len(manifest['heldout_networks'])}")


def _step_process(ctx: DemoContext) -> None:
    from ..processing import process

    processed = ctx.out_dir / "processed"
    ds = process(ctx.state["raw"], processed, progress=False)
    ctx.state["processed"] = processed
    ctx.state["dataset"] = ds
    ctx.console.print(dataset_table(ds))
    ctx.console.print(f"processed dataset written to {processed}")


def _step_statistics(ctx: DemoContext) -> None:
    from ..report import build_stats

    page = build_stats(ctx.state["processed"], ctx.out_dir / "stats", seed=0, progress=True)
    ctx.console.print(f"data statistics (histograms, PCA, k-means starting points): {page}")


def _step_train(ctx: DemoContext) -> None:
    from ..model import evaluate, train_model, write_evaluation

    run = ctx.out_dir / "run"
    # Small batches: the embedded data has only 5,000 rows. Operator-level networks (transformers of
    # ~280 operators among them) make an epoch cost a few seconds: 50 epochs by default (about 2 minutes
    # for the whole demo); `--epochs 80` is more accurate in about twice the time.
    predictor = train_model(ctx.state["dataset"], "structured", run_dir=run, progress=True, epochs=ctx.epochs,
                            seed=0, hidden=64, depth=2, batch_size=128, patience=20, device="cpu")
    ev = evaluate(predictor, ctx.state["dataset"])
    write_evaluation(ev, run)
    ctx.state.update(run=run, predictor=predictor, evaluation=ev)
    ctx.console.print(evaluation_table(ev))
    ctx.console.print(f"run folder (checkpoints, curves.png, parity.png, evaluation.json, out_of_domain.json: "
                      f"{len(ev.out_of_domain)} operator features outside the training support): {run}")


def _step_cross_family(ctx: DemoContext) -> None:
    """Error per family of the held-out networks, and on zoo networks never trained on."""
    from ..model.evaluate import evaluate_networks, oracle_rows, write_zoo_evaluation
    from ..networks import import_network
    from ..report.cross_family import per_family

    families = per_family(ctx.state["evaluation"].per_network)
    ctx.console.print(frame_table(families, "Error of P per family (%): held-out networks and unseen hardware",
                                  CROSS_FAMILY))
    with warnings.catch_warnings():  # the importers' notes on skipped training-only layers
        warnings.simplefilter("ignore")
        nets = {spec: import_network(spec) for spec in ZOO}
    zoo = evaluate_networks(ctx.state["predictor"], nets, oracle_rows(nets, ZOO_HARDWARE, seed=0))
    for text in zoo["out_of_domain"]:
        if text:
            print_warning(f"NetworkSupportWarning: {text}")
    ctx.console.print(frame_table(zoo.drop(columns="out_of_domain"), f"Error of P on zoo networks never trained on "
                                  f"(%, {ZOO_HARDWARE} hardware configurations each, oracle truth)", CROSS_FAMILY))
    path = write_zoo_evaluation(ctx.state["run"], zoo, hardware_configurations=ZOO_HARDWARE, seed=0)
    ctx.console.print(f"zoo evaluation written to {path}")


def _step_experiments(ctx: DemoContext) -> None:
    from ..model.experiments import data_experiment, sizes_experiment

    out = ctx.state["run"] / "experiments"  # where the report looks for them
    params = dict(epochs=min(ctx.epochs, 5), targets=("P_core", "P_bw"), device="cpu", batch_size=128)
    sizes = sizes_experiment(ctx.state["dataset"], n_models=3, seed=0, out_dir=out, progress=True, **params)
    ctx.console.print(sizes.to_string(index=False))
    data, verdict = data_experiment(ctx.state["dataset"], seed=0, out_dir=out, progress=True, **params)
    ctx.console.print(data.to_string(index=False))
    ctx.console.print(verdict.message)


def example_searches(run_dir: Path, data_dir: Path, *, seed: int = 0, n_identify_nets: int = 4) -> dict:
    """Recover the hardware of a validation row from its ``P``; identify a hidden configuration from
    ``n_identify_nets`` networks' oracle-measured ``P_core``/``P_bw``; design for minimum ``P`` under
    the network's median latency in the data. All oracle-verified."""
    import numpy as np
    import pandas as pd

    from ..processing import load_processed
    from ..search import RecoverQuery, design, identify, parse_constraint, recover
    from ..search.run_context import load_context, read_data

    ctx = load_context(run_dir, data_dir, seed=seed)
    info = read_data(data_dir)
    val = load_processed(data_dir).val
    row = val.sample(1, random_state=seed).iloc[0]
    net = info.networks[str(row["network"])]
    out = {"recover": recover(ctx, [RecoverQuery(net, {"P": float(row["P"])}, str(row["network"]))], verify=True, seed=seed)}
    keys = np.random.default_rng(seed).choice(sorted(info.networks), min(n_identify_nets, len(info.networks)), replace=False)
    nets = [info.networks[k] for k in keys]
    hidden = pd.concat([ctx.space.sample(1, seed=seed)] * len(nets), ignore_index=True)
    measured = ctx.oracle.evaluate_many(nets, np.arange(len(nets)), hidden)[["P_core", "P_bw"]]
    out["identify"] = identify(ctx, nets, measured, names=[str(k) for k in keys], verify=True, seed=seed)
    out["identify"].meta["hidden"] = hidden.iloc[0].to_dict()
    limit = float(val.loc[val["network"] == row["network"], "latency_ms"].median())
    out["design"] = design(ctx, [net], objective="P", constraints=[parse_constraint(f"latency_ms<={limit:.4g}")],
                           verify=True, names=[str(row["network"])], seed=seed)
    return out


def _step_search(ctx: DemoContext) -> None:
    from .search_tables import search_tables  # numpy and pandas: loaded by the command, not at start-up

    results = example_searches(ctx.state["run"], ctx.state["processed"], seed=0)
    for name, result in results.items():
        for table in search_tables(result):
            ctx.console.print(table)
        result.save_json(ctx.state["run"] / "search" / f"{name}.json")
    _pareto_design(ctx)


def _pareto_design(ctx: DemoContext) -> None:
    """A small verified Pareto design (P, latency, area) of one network, saved for the report."""
    from ..report.pareto import knee_summary
    from ..search.pareto_design import design_front
    from ..search.run_context import load_context, read_data

    info = read_data(ctx.state["processed"], ctx.state["dataset"])
    key = sorted(info.networks)[0]
    objectives = ["P", "latency_ms", "area_mm2"]
    result = design_front(load_context(ctx.state["run"]), [info.networks[key]], objectives, budget=200,
                          verify=True, names=[key], max_points=8000, rounds=2)
    result.save_json(ctx.state["run"] / "search" / "pareto.json")
    ctx.console.print(f"Pareto design of network {key} (P, latency_ms, area_mm2): {len(result.front)} verified front "
                      f"points of {len(result.candidates)} candidates; knee: {knee_summary(result.front, objectives, 'oracle_')}")


def _step_report(ctx: DemoContext) -> None:
    from ..report import build_report

    page = build_report(ctx.state["processed"], ctx.out_dir / "report", ctx.state["run"], seed=0, progress=True)
    ctx.state["report"] = page
    ctx.console.print(f"[bold]report: {page}[/]")


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("networks: sample from the search space, import reference networks", _step_networks),
    ("generate: raw data from the oracle (hwpower generate)", _step_generate),
    ("process: raw text into the Parquet dataset (hwpower process)", _step_process),
    ("statistics: power histograms, hardware PCA, k-means (hwpower stats)", _step_statistics),
    ("train: the structured predictor, evaluated on unseen hardware and networks (hwpower train, evaluate)", _step_train),
    ("cross-family: error per network family, and on zoo networks never trained on", _step_cross_family),
    ("experiments: random model sizes, and whether more data helps (hwpower experiment)", _step_experiments),
    ("search: recover, identify and design, verified by the oracle (hwpower recover, identify, design)", _step_search),
    ("report: the self-contained HTML report (hwpower report)", _step_report),
]


def _show_once(caught: list) -> None:
    """A step's Python warnings, one per network (or text): a step that trains several models (the
    experiments) would otherwise repeat the same network's out-of-domain warning for each."""
    seen: dict[tuple[str, str], int] = {}
    for w in caught:
        details = getattr(w.message, "details", None)
        key = (w.category.__name__, details[0]["network"] if details else str(w.message))
        if key not in seen:
            print_python_warning(w.message, w.category)
        seen[key] = seen.get(key, 0) + 1
    repeats = sum(n - 1 for n in seen.values())
    if repeats:
        print_warning(f"({repeats} more warning(s) of this step about the same networks, from other models, not shown)")


def run_demo(out_dir: str | Path = "demo-output", console: Console | None = None, *, epochs: int = 50) -> DemoResult:
    """Run every demo step in order, printing progress; returns the per-step wall times.

    ``epochs`` bounds the predictor's training (early stopping may end it sooner). ``out_dir`` must
    be new, empty or a previous demo output: a rerun replaces the demo's own output without asking
    (running the demo twice should just work), anything else is refused.
    """
    from ..io import start_output_dir

    start_output_dir(out_dir, command="demo", force=True)
    ctx = DemoContext(Path(out_dir), console or Console(), epochs)
    result = DemoResult(ctx.out_dir)
    for i, (title, step) in enumerate(STEPS, start=1):
        ctx.console.print(Rule(f"step {i}/{len(STEPS)}: {title}"))
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # the filters in force stay as they are
            step(ctx)
        _show_once(caught)
        result.step_seconds[title.split(":")[0]] = time.perf_counter() - start
    ctx.console.print(Rule("done"))
    ctx.console.print(f"demo finished in {result.total_seconds:.1f} s; outputs in {ctx.out_dir}")
    if "report" in ctx.state:
        ctx.console.print(f"[bold green]open the report: {ctx.state['report']}[/]")
    return result


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-output"), help="Folder for every output of the demo: new, empty, or a "
                                 "previous demo output (replaced)."),
        epochs: int = typer.Option(50, min=1, help="Training epochs for the demo's predictor."),
    ) -> None:
        """Generate, process, train, search and report on the embedded default data."""
        with user_errors():
            run_demo(out, console=console, epochs=epochs)
