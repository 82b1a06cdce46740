"""``hwpower demo``: the whole pipeline on the embedded default data, step by step.

Each step is a short call into the library; the demo adds only orchestration and printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from .networks import sample_networks
from .networks.reference import reference_networks
from .networks.show import network_table, summary_table


@dataclass
class DemoResult:
    out_dir: Path
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.step_seconds.values())


def _step_networks(ctx: DemoContext) -> None:
    sampled = sample_networks("ofa-mbv3", 3, seed=0)
    ctx.console.print(summary_table(sampled, title="3 networks sampled from the OFA-MobileNetV3 space (seed 0)"))
    ctx.console.print(network_table(sampled[0], title="sampled network 0: blocks"))
    refs = reference_networks()
    ctx.console.print(summary_table(dict(enumerate(refs.values())), title="reference networks imported from torchvision"))
    ctx.console.print(network_table(refs["mobilenet_v2"], title="mobilenet_v2: blocks"))


def _step_generate(ctx: DemoContext) -> None:
    from rich.table import Table

    from .generate import example_config, generate

    raw = ctx.out_dir / "raw"
    manifest = generate(raw, example_config())
    ctx.state["raw"] = raw
    table = Table(title=f"raw data written to {raw} (the embedded default: examples/data/raw)")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, info in sorted(manifest["files"].items()):  # the sample shards, with their row counts
        table.add_row(name, f"{info['rows']:,}")
    ctx.console.print(table)
    ctx.console.print(f"held-out networks (only in val): {len(manifest['heldout_networks'])}")


def _step_process(ctx: DemoContext) -> None:
    from .processing import process, summary_table

    processed = ctx.out_dir / "processed"
    ds = process(ctx.state["raw"], processed, progress=False)
    ctx.state["processed"] = processed
    ctx.state["dataset"] = ds
    ctx.console.print(summary_table(ds))
    ctx.console.print(f"processed dataset written to {processed}")


def _step_statistics(ctx: DemoContext) -> None:
    from .report import build_stats

    page = build_stats(ctx.state["processed"], ctx.out_dir / "stats", seed=0, progress=True)
    ctx.console.print(f"data statistics (histograms, PCA, k-means starting points): {page}")


def _step_train(ctx: DemoContext) -> None:
    from .model import evaluate, evaluation_table, train_model, write_evaluation

    run = ctx.out_dir / "run"
    # Small batches: the embedded data has only 5,000 rows. Operator-level networks (transformers of
    # ~280 operators among them) make an epoch cost a few seconds: 50 epochs by default (132 s for
    # the whole demo, P 6.7 % MAPE on unseen hardware); `--epochs 80` gives 5.6 % in about twice the time.
    predictor = train_model(ctx.state["dataset"], "structured", run_dir=run, progress=True, epochs=ctx.epochs,
                            seed=0, hidden=64, depth=2, batch_size=128, patience=20, device="cpu")
    ev = evaluate(predictor, ctx.state["dataset"])
    write_evaluation(ev, run)
    ctx.state["run"] = run
    ctx.console.print(evaluation_table(ev))
    ctx.console.print(f"run folder (checkpoints, curves.png, parity.png, evaluation.json): {run}")


def _step_experiments(ctx: DemoContext) -> None:
    from .model.experiments import data_experiment, sizes_experiment

    out = ctx.state["run"] / "experiments"  # where the report looks for them
    params = dict(epochs=min(ctx.epochs, 5), targets=("P_core", "P_bw"), device="cpu", batch_size=128)
    sizes = sizes_experiment(ctx.state["dataset"], n_models=3, seed=0, out_dir=out, progress=True, **params)
    ctx.console.print(sizes.to_string(index=False))
    data, verdict = data_experiment(ctx.state["dataset"], seed=0, out_dir=out, progress=True, **params)
    ctx.console.print(data.to_string(index=False))
    ctx.console.print(verdict.message)


def _step_search(ctx: DemoContext) -> None:
    from .search.examples import example_searches

    results = example_searches(ctx.state["run"], ctx.state["processed"], seed=0)
    for name, result in results.items():
        for table in result.rich_tables():
            ctx.console.print(table)
        result.save_json(ctx.state["run"] / "search" / f"{name}.json")
    _pareto_design(ctx)


def _pareto_design(ctx: DemoContext) -> None:
    """A small verified Pareto design (P, latency, area) of one network, saved for the report."""
    from .report.pareto import knee_summary
    from .search.pareto_design import design_front
    from .search.run import load_context, read_data

    info = read_data(ctx.state["processed"], ctx.state["dataset"])
    key = sorted(info.networks)[0]
    objectives = ["P", "latency_ms", "area_mm2"]
    result = design_front(load_context(ctx.state["run"]), [info.networks[key]], objectives, budget=200,
                          verify=True, names=[key], max_points=8000, rounds=2)
    result.save_json(ctx.state["run"] / "search" / "pareto.json")
    ctx.console.print(f"Pareto design of network {key} (P, latency_ms, area_mm2): {len(result.front)} verified front "
                      f"points of {len(result.candidates)} candidates; knee: {knee_summary(result.front, objectives, 'oracle_')}")


def _step_report(ctx: DemoContext) -> None:
    from .report import build_report

    page = build_report(ctx.state["processed"], ctx.out_dir / "report", ctx.state["run"], seed=0, progress=True)
    ctx.state["report"] = page
    ctx.console.print(f"[bold]report: {page}[/]")


@dataclass
class DemoContext:
    out_dir: Path
    console: Console
    epochs: int = 50
    state: dict = field(default_factory=dict)


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("networks: sample from the search space, import reference networks", _step_networks),
    ("generate: raw data from the oracle (hwpower generate)", _step_generate),
    ("process: raw text into the Parquet dataset (hwpower process)", _step_process),
    ("statistics: power histograms, hardware PCA, k-means (hwpower stats)", _step_statistics),
    ("train: the structured predictor, evaluated on unseen hardware and networks (hwpower train, evaluate)", _step_train),
    ("experiments: random model sizes, and whether more data helps (hwpower experiment)", _step_experiments),
    ("search: recover, identify and design, verified by the oracle (hwpower recover, identify, design)", _step_search),
    ("report: the self-contained HTML report (hwpower report)", _step_report),
]


def run_demo(out_dir: str | Path = "demo-output", console: Console | None = None, *, epochs: int = 50) -> DemoResult:
    """Run every demo step in order, printing progress; returns the per-step wall times.

    ``epochs`` bounds the predictor's training (early stopping may end it sooner). ``out_dir`` must
    be new, empty or a previous demo output: a rerun replaces the demo's own output without asking
    (running the demo twice should just work), anything else is refused.
    """
    from .io import start_output_dir

    start_output_dir(out_dir, command="demo", force=True)
    ctx = DemoContext(Path(out_dir), console or Console(), epochs)
    result = DemoResult(ctx.out_dir)
    for i, (title, step) in enumerate(STEPS, start=1):
        ctx.console.print(Rule(f"step {i}/{len(STEPS)}: {title}"))
        start = time.perf_counter()
        step(ctx)
        result.step_seconds[title.split(":")[0]] = time.perf_counter() - start
    ctx.console.print(Rule("done"))
    ctx.console.print(f"demo finished in {result.total_seconds:.1f} s; outputs in {ctx.out_dir}")
    if "report" in ctx.state:
        ctx.console.print(f"[bold green]open the report: {ctx.state['report']}[/]")
    return result
