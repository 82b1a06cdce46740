"""``hwpower oracle``: one network on one hardware configuration; ``hwpower calibrate``: published chips."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InputError
from .common import console, parse_assignments, user_errors

if TYPE_CHECKING:  # the oracle pulls pandas and scipy: imported in the commands, so `hwpower --help` starts fast
    import pandas as pd
    from rich.table import Table


def parse_hardware(text: str) -> dict[str, object]:
    """``pe_rows=16,...,dataflow=ws`` -> typed values; every parameter exactly once."""
    from ..oracle import HW_PARAMS
    from ..oracle.space import SUPPORTED

    raw = parse_assignments(text, what="--hw")
    unknown = sorted(set(raw) - set(HW_PARAMS))
    if unknown:
        raise InputError(f"unknown hardware parameter(s) {unknown} (known: {list(HW_PARAMS)})", where="--hw")
    missing = [k for k in HW_PARAMS if k not in raw]
    if missing:
        raise InputError(f"missing hardware parameter(s) {missing}", where="--hw")
    hw: dict[str, object] = {"dataflow": raw["dataflow"]}
    for name in HW_PARAMS[:-1]:
        try:
            hw[name] = float(raw[name])
        except ValueError:
            raise InputError(f"{name}={raw[name]!r} is not a number", where="--hw") from None
    if hw["bits"] not in SUPPORTED["bits"]:
        raise InputError(f"bits={raw['bits']!r} must be one of {list(SUPPORTED['bits'])}", where="--hw")
    hw["bits"] = int(hw["bits"])
    return hw


def _table(title: str, df: pd.DataFrame, fmt: str = "{:.4g}") -> Table:
    import pandas as pd
    from rich.table import Table

    table = Table(title=title)
    for col in df.columns:  # text columns are never cut; numbers fold rather than lose digits
        if not pd.api.types.is_numeric_dtype(df[col]):
            table.add_column(str(col), no_wrap=True, min_width=int(df[col].str.len().max()))
        else:
            table.add_column(str(col), justify="right", overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*(v if isinstance(v, str) else fmt.format(v) for v in row))
    return table


def oracle_cmd(
    nets_file: Path = typer.Argument(..., help="A nets_*.json file (block or operator-graph networks)."),
    net_id: int = typer.Option(..., "--id", help="Network id in the file."),
    hw: str = typer.Option(..., help="All hardware parameters: pe_rows=16,pe_cols=16,rf_bytes=64,glb_kib=256,"
                                     "dram_gbps=8,freq_mhz=500,bits=8,dataflow=ws"),
    tech_nm: int = typer.Option(45, help="Technology node (nm): 45 or 65."),
    dram: str = typer.Option("lpddr4", help="DRAM type: lpddr4, gddr5, hbm2, ddr3."),
    schedule: str = typer.Option("fused", help="fused: activations that fit stay on chip (whole or as depth-first "
                                 "tiles); layer: every activation goes through DRAM (docs/oracle.md, Schedule)."),
    layers: bool = typer.Option(True, "--layers/--no-layers", help="Print the per-layer breakdown."),
    tech: str | None = typer.Option(None, help="Fitted technology constants (`hwpower calibrate --fit ... --out "
                                    "FILE`), or 'builtin' for the fit of the published chips."),
) -> None:
    """Power, latency and energy of one network (block or operator graph) on one configuration, with a
    per-layer (per-operator) breakdown."""
    import pandas as pd

    from ..networks import read_networks
    from ..oracle import Oracle
    from ..oracle.settings import tech_settings
    from ..plausibility import warn_inputs

    with user_errors():
        config = parse_hardware(hw)
        nets = read_networks(nets_file)
        if net_id not in nets:
            raise InputError(f"no network with id {net_id} (ids {min(nets)}..{max(nets)})", file=str(nets_file))
        oracle = Oracle(tech_settings(tech, tech_nm=tech_nm, dram=dram, schedule=schedule))
        net = nets[net_id]
        warn_inputs(config, net, f"{nets_file.name} id {net_id}")  # plausibility (issue 15): hwpower/plausibility.py
        totals = oracle.evaluate(net, pd.DataFrame({k: [v] for k, v in config.items()}))
        detail = oracle.breakdown(net, config) if layers else None
    if detail is not None:
        shown = pd.DataFrame({
            "layer": detail["name"], "op": detail["op"], "unit": detail["unit"], "MMACs": detail["macs"] / 1e6,
            "util": detail["utilisation"], "bound": detail["bound"], "ms": detail["latency_ms"],
            "core mJ": detail[[f"{x}_mj" for x in ("mac", "rf", "noc", "clk", "glb", "leak")]].sum(axis=1),
            "DRAM mJ": detail["dram_mj"] + detail["dram_bg_mj"], "DRAM kB": detail["dram_bytes"] / 1e3,
        })
        console.print(_table(f"{nets_file.name} id {net_id}: per layer", shown, "{:.3g}"))
        levels = detail[[c for c in detail.columns if c.endswith("_mj") and c != "energy_mj"]].sum().to_frame().T
        console.print(_table("energy by level (mJ)", levels.rename(columns=lambda c: c[:-3])))
    console.print(_table(f"{nets_file.name} id {net_id}: network (W, ms, mJ)", totals))


CALIBRATE_FIT = typer.Option(None, "--fit", help="Fit the technology constants to MEASUREMENTS.csv (the columns of "
                             "the built-in table, docs/oracle.md Calibration), or 'builtin' to refit the published "
                             "table.")


def _comparison_table(title: str, df: pd.DataFrame) -> Table:
    """Published vs oracle per point: power, throughput, energy per inference, area (oracle / published)."""
    import pandas as pd

    def cell(pub: float, got: float, mark: str = "") -> str:
        if pd.isna(got):
            return "-"
        return f"{got:.3g} / {pub:.3g}{mark} = {got / pub:.2f}" if not pd.isna(pub) else f"{got:.3g}"

    shown = []
    for r in df.itertuples(index=False):
        row = {"point": r.key, "chip": r.chip, "network": r.network, "batch": str(r.batch)}
        for name, k in (("power W", "power_w"), ("inferences/s", "throughput_ips"), ("mJ/inference", "energy_mj")):
            row[name] = cell(getattr(r, f"{k}_pub"), getattr(r, f"{k}_oracle"), "*" if r.derived == k else "")
        within = ("yes" if r.within else "no") + ("" if r.fit else " (not fitted)")
        row |= {"area mm2": cell(r.area_pub, r.area_oracle), "+-25%": within}
        shown.append(row)
    return _table(title, pd.DataFrame(shown))


def _loo_lines(models: list, prior: float) -> list[str]:
    from ..oracle.calibration.fit import leave_one_out, loo_summary

    fitted = [m for m in models if m.point.fit]
    lines = []
    for what, group in (("leave-one-point-out", lambda p: p.key), ("leave-one-chip-out", lambda p: p.chip)):
        s = loo_summary(leave_one_out(fitted, group, prior))
        lines.append(f"{what}: median |error| {s['median_abs_error_pct']:.0f} %, largest "
                     f"{s['max_abs_error_pct']:.0f} %, {s['within_tolerance']:.0%} of figures within +-25 %")
    return lines


def calibrate_cmd(
    fit: str | None = CALIBRATE_FIT,
    out: Path | None = typer.Option(None, help="With --fit: write the fitted constants (JSON) here, for "
                                    "`hwpower oracle --tech` and `hwpower generate --tech`."),
    tech: str = typer.Option("builtin", help="Without --fit: the constants to compare with (a fitted file, "
                             "'builtin' or 'none' for the uncalibrated physics)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """The oracle against published chips (power, throughput and energy per inference within +-25 %?),
    or a fit of the per-node technology constants to your own measurements (--fit)."""
    from ..io import check_output_file, write_text_atomic
    from ..oracle.settings import FittedTech, load_tech
    from ..oracle.calibration.fit import PRIOR_WEIGHT, build_models, comparison_frame, fit_points
    from ..oracle.calibration.table import builtin_table, read_points

    with user_errors():
        if out is not None and fit is None:
            raise InputError("--out needs --fit (it writes the fitted constants)", where="--out")
        measured = None if fit in (None, "builtin") else fit
        target = check_output_file(out, force=force, inputs=[measured]) if out else None
        points = builtin_table() if fit in (None, "builtin") else read_points(fit)
        models = build_models(points) if fit is not None else None
        if fit is None:
            fitted = FittedTech({}) if tech == "none" else load_tech(tech)
        else:
            used = [m for m in models if m.point.fit]
            if not used:
                raise InputError("no point has fit=yes", file=fit)
            fitted = fit_points(used)
            fitted.fit["loo"] = _loo_lines(models, PRIOR_WEIGHT)
        df = comparison_frame(points, fitted)
    source = fitted.source or ("fitted here" if fit else "uncalibrated physics")
    console.print(_comparison_table(f"oracle ({source}): oracle / published = ratio; * derived", df))
    for n, f in sorted(fitted.nodes.items()):
        console.print(f"{n} nm: " + ", ".join(f"{k} {v:.3g}" for k, v in vars(f).items()))
    if fit is not None:
        for line in fitted.fit["loo"]:
            console.print(line)
    outside = df.loc[~df["within"], "key"].tolist()
    console.print(f"{len(df) - len(outside)} of {len(df)} points within +-25 % on every published figure"
                  + (f"; outside: {', '.join(outside)}" if outside else ""))
    why = {p.key: p.outside_reason for p in points}
    for key in outside:  # the measured reason of each, from the table (details: docs/oracle.md, Calibration)
        console.print(f"  {key}: {why.get(key) or 'no reason recorded in the table'}")
    if target is not None:
        write_text_atomic(target, fitted.to_json())
        console.print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    app.command("oracle")(oracle_cmd)
    app.command("calibrate")(calibrate_cmd)
