"""``hwpower recover``, ``identify`` and ``design``: find hardware parameters with a trained predictor."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE_FILE, console, user_errors

RUN = typer.Argument(..., help="Run folder of a trained structured or mlp predictor.")
DATA = typer.Option(None, "--data", help="Processed dataset the run was trained on (needed once; saved with the run).")
VERIFY = typer.Option(False, "--verify", help="Re-evaluate every candidate with the oracle.")
FIX = typer.Option([], "--fix", help="Fix a hardware parameter, e.g. bits=8 (repeatable).")
TOP = typer.Option(5, "--top-k", min=1, help="Candidates to return.")
OUT = typer.Option(None, "--out", help="Also write the result as JSON here (an existing file only with --force).")
SEED = typer.Option(0, "--seed", help="Random seed (random starts); same seed, same result.")
STEPS = typer.Option(100, "--steps", min=1, help="Gradient steps of the descent.")
RAY = typer.Option(None, "--ray", help="Run the oracle's sweeps on Ray: local, auto or a cluster ADDRESS "
                   "(docs/scale.md); same results as without.")


def _context(run_dir: Path, data: Path | None, seed: int, steps: int, ray: str | None = None):
    from ..search import DescentConfig
    from ..runstate import warn_if_incomplete
    from ..search.run_context import load_context

    warn_if_incomplete(run_dir)
    return load_context(run_dir, data, seed=seed, config=DescentConfig(steps=steps, seed=seed), ray=ray)


def _check_out(out: Path | None, force: bool, run_dir: Path, *inputs: Path | None) -> None:
    """Before the search: --out must be writable and replace nothing but an earlier result (--force)."""
    from ..io import check_output_file
    from ..search.run_context import context_files

    if out is not None:
        check_output_file(out, force=force, inputs=[*inputs, *context_files(run_dir)])


def _show(result, out: Path | None) -> None:
    from .search_tables import search_tables

    for table in search_tables(result):
        console.print(table)
    meta = result.meta
    console.print(f"{meta['n_starts']} starts (k-means k={meta['k_means_k']} + {meta['n_random_starts']} random, "
                  f"x categorical combinations), {meta['steps']} steps, {meta['search_time_s']:.2f} s; "
                  "in_domain = inside the training data's bounds and density (ood_score <= 1)")
    if not result.verified:
        console.print("[yellow]not verified[/]: pass --verify to check every candidate with the oracle")
    if out is not None:
        result.save_json(out)
        console.print(f"wrote {out}")


def recover_cmd(
    run_dir: Path = RUN,
    nets: Path = typer.Option(..., "--nets", help="nets_*.json file holding the network(s)."),
    ids: list[int] = typer.Option(..., "--id", help="Network id in --nets (repeatable)."),
    targets: list[str] = typer.Option(..., "--target", help="P=1.3 or P_core=0.8,P_bw=0.4 (one, or one per --id)."),
    data: Path | None = DATA, fix: list[str] = FIX, top_k: int = TOP, verify: bool = VERIFY,
    out: Path | None = OUT, seed: int = SEED, steps: int = STEPS,
    ray: str | None = RAY, force: bool = FORCE_FILE,
) -> None:
    """Hardware configurations on which the network(s) draw the target power(s) (the seed's experiment)."""
    from ..search import RecoverQuery, parse_fixes, parse_target, recover
    from ..search.inputs import pick_networks

    with user_errors():
        _check_out(out, force, run_dir, nets, data)
        if len(targets) not in (1, len(ids)):
            from ..errors import InputError
            raise InputError(f"give one --target, or one per --id ({len(ids)}); got {len(targets)}")
        goals = [parse_target(t) for t in targets] * (len(ids) if len(targets) == 1 else 1)
        networks = pick_networks(nets, ids)
        ctx = _context(run_dir, data, seed, steps, ray)
        queries = [RecoverQuery(n, g, f"{nets.stem}/{i}") for n, g, i in zip(networks, goals, ids)]
        result = recover(ctx, queries, fixed=parse_fixes(fix, ctx.space), top_k=top_k, verify=verify, seed=seed)
        _show(result, out)


def identify_cmd(
    run_dir: Path = RUN,
    measurements: Path = typer.Option(..., "--measurements", help="Table: network, then measured outputs (P_core, P_bw or P ...)."),
    nets: Path = typer.Option(..., "--nets", help="nets_*.json file; the table's network column holds its ids."),
    data: Path | None = DATA, fix: list[str] = FIX, top_k: int = typer.Option(10, "--top-k", min=1),
    verify: bool = VERIFY, out: Path | None = OUT, seed: int = SEED, steps: int = STEPS,
    ray: str | None = RAY, force: bool = FORCE_FILE,
) -> None:
    """Recover one unknown accelerator's parameters from several networks' measured powers."""
    from ..errors import InputError
    from ..search import identify, parse_fixes
    from ..search.inputs import pick_networks, read_measurements

    with user_errors():
        _check_out(out, force, run_dir, nets, measurements, data)
        table = read_measurements(measurements)
        try:
            ids = [int(v) for v in table["network"]]
        except ValueError:
            raise InputError("the network column must hold ids of networks in --nets", file=str(measurements)) from None
        networks = pick_networks(nets, ids)
        ctx = _context(run_dir, data, seed, steps, ray)
        result = identify(ctx, networks, table.drop(columns=["network"]), names=[f"{nets.stem}/{i}" for i in ids],
                          fixed=parse_fixes(fix, ctx.space), top_k=top_k, verify=verify, seed=seed)
        _show(result, out)


def design_cmd(
    run_dir: Path = RUN,
    nets: Path = typer.Option(..., "--nets", help="nets_*.json file holding the network(s)."),
    ids: list[int] = typer.Option(..., "--id", help="Network id in --nets (repeatable)."),
    weights: list[float] = typer.Option([], "--weight", help="Weight of each --id in the objective (default 1 each)."),
    minimize: str = typer.Option("P", "--minimize", help="P, energy_mj, latency_ms, or a weighted sum like 0.7*P+0.3*latency_ms."),
    objectives: str | None = typer.Option(None, "--objectives", help="2 or 3 objectives for a Pareto front, e.g. P,latency_ms,area_mm2 (replaces --minimize)."),
    budget: int = typer.Option(500, "--budget", min=1, help="With --objectives: oracle calls for verification (configurations x networks)."),
    constraints: list[str] = typer.Option([], "--constraint", help="On predicted outputs, e.g. 'latency_ms<=5' (repeatable)."),
    data: Path | None = DATA, fix: list[str] = FIX, top_k: int = typer.Option(8, "--top-k", min=1),
    verify: bool = VERIFY, out: Path | None = OUT, seed: int = SEED, steps: int = STEPS,
    ray: str | None = RAY, force: bool = FORCE_FILE,
    margin: float | None = typer.Option(None, "--margin", min=0.0, help="Relative margin on predicted constraints (default: the run's calibrated 90% half-width)."),
    truth_calls: int | None = typer.Option(None, "--truth-calls", min=1, help="With --verify: most oracle calls for verification and the local search on the truth."),
) -> None:
    """Minimize power, energy or latency subject to constraints and fixed parameters."""
    from ..search import design, parse_constraint, parse_fixes, parse_objective
    from ..search.inputs import pick_networks

    with user_errors():
        _check_out(out, force, run_dir, nets, data)
        for extra in _front_files(out, objectives):
            _check_out(extra, force, run_dir, nets, data)
        objective = parse_objective(minimize)
        cons = [parse_constraint(c) for c in constraints]
        networks = pick_networks(nets, ids)
        ctx = _context(run_dir, data, seed, steps, ray)
        result = design(ctx, networks, weights=weights or None, objective=objective, constraints=cons,
                        fixed=parse_fixes(fix, ctx.space), top_k=top_k, verify=verify,
                        names=[f"{nets.stem}/{i}" for i in ids], seed=seed, objectives=objectives, budget=budget,
                        margin=margin, truth_calls=truth_calls)
        if objectives:
            _show_front(result, out)
            return
        _show(result, out)
        if result.meta.get("note"):
            console.print(f"[yellow]{result.meta['note']}[/]")
        if verify:
            best = result.meta.get("best")
            console.print(f"best oracle-feasible: {best} ({result.meta.get('best_oracle_objective')})" if best
                          else f"[red]no returned candidate is feasible under the oracle[/]; binding: {result.meta.get('binding_constraint')} (raise --top-k or relax it)")


def _front_files(out: Path | None, objectives: str | None) -> list[Path]:
    """A Pareto design's Parquet front and PNG figure, beside ``--out``."""
    return [out.with_suffix(".parquet"), out.with_suffix(".png")] if out is not None and objectives else []


def _show_front(result, out: Path | None) -> None:
    from ..io import atomic_path, write_bytes_atomic
    from ..report.figures import png_bytes
    from ..report.pareto import front_figure, knee_summary
    from .search_tables import compact_hardware, result_table

    meta, front = result.meta, result.front
    prefix = "oracle_" if result.verified else "pred_"
    shown = front[[*result.hw_columns, *(prefix + o for o in meta["objectives"]), "knee"]]
    console.print(result_table(compact_hardware(shown, result.hw_columns),
                              f"design: Pareto front of {', '.join(meta['objectives'])} "
                              + ("(oracle-verified)" if result.verified else "(predicted, not verified)")))
    console.print(f"{meta['n_candidates']} candidates from {meta['n_scored']} scored configurations, "
                  f"{meta.get('oracle_calls', 0)} oracle calls, {meta['elapsed']:.2f} s; knee: "
                  f"{knee_summary(front, meta['objectives'], prefix)}")
    for key in ("note", "binding_constraint"):
        if meta.get(key):
            console.print(f"[yellow]{key.replace('_', ' ')}: {meta[key]}[/]")
    if not result.verified:
        console.print("[yellow]not verified[/]: pass --verify to check every candidate with the oracle")
    if out is not None:
        result.save_json(out)
        parquet, png = _front_files(out, "front")
        with atomic_path(parquet) as tmp:
            front.to_parquet(tmp, index=False)
        write_bytes_atomic(png, png_bytes(front_figure(result.candidates, meta["objectives"], verified=result.verified)))
        console.print(f"wrote {out}, {parquet} and {png}")


def register(app: typer.Typer) -> None:
    app.command("recover")(recover_cmd)
    app.command("identify")(identify_cmd)
    app.command("design")(design_cmd)
