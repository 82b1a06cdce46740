"""``hwpower oracle``: one network on one hardware configuration; ``hwpower calibrate``: Eyeriss."""

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
    layers: bool = typer.Option(True, "--layers/--no-layers", help="Print the per-layer breakdown."),
) -> None:
    """Power, latency and energy of one network (block or operator graph) on one configuration, with a
    per-layer (per-operator) breakdown."""
    import pandas as pd

    from ..networks import read_networks
    from ..oracle import Oracle, OracleSettings

    with user_errors():
        config = parse_hardware(hw)
        nets = read_networks(nets_file)
        if net_id not in nets:
            raise InputError(f"no network with id {net_id} (ids {min(nets)}..{max(nets)})", file=str(nets_file))
        oracle = Oracle(OracleSettings(tech_nm=tech_nm, dram=dram))
        net = nets[net_id]
        totals = oracle.evaluate(net, pd.DataFrame({k: [v] for k, v in config.items()}))
        detail = oracle.breakdown(net, config) if layers else None
    if detail is not None:
        shown = pd.DataFrame({
            "layer": detail["name"], "op": detail["op"], "unit": detail["unit"], "MMACs": detail["macs"] / 1e6,
            "util": detail["utilisation"], "bound": detail["bound"], "ms": detail["latency_ms"],
            "core mJ": detail[[f"{x}_mj" for x in ("mac", "rf", "noc", "glb", "leak")]].sum(axis=1),
            "DRAM mJ": detail["dram_mj"] + detail["dram_bg_mj"], "DRAM kB": detail["dram_bytes"] / 1e3,
        })
        console.print(_table(f"{nets_file.name} id {net_id}: per layer", shown, "{:.3g}"))
        levels = detail[[c for c in detail.columns if c.endswith("_mj") and c != "energy_mj"]].sum().to_frame().T
        console.print(_table("energy by level (mJ)", levels.rename(columns=lambda c: c[:-3])))
    console.print(_table(f"{nets_file.name} id {net_id}: network (W, ms, mJ)", totals))


def calibrate_cmd() -> None:
    """Eyeriss (65 nm, 12x14 PEs, 16 bit, 200 MHz) on AlexNet's convolutions vs the published 278 mW."""
    from rich.table import Table

    from ..oracle.calibration import eyeriss_alexnet

    r = eyeriss_alexnet()
    table = Table(title="Eyeriss on AlexNet CONV layers: oracle vs silicon (Chen et al., JSSC 2017)")
    for col in ("quantity", "oracle", "published", "ratio"):
        table.add_column(col, justify="right")
    table.add_row("chip power P_core (mW)", f"{r.power_core_w * 1e3:.1f}", f"{r.published_power_w * 1e3:.0f}",
                  f"{r.ratio:.2f}")
    table.add_row("frames/s", f"{r.fps:.1f}", f"{r.published_fps:.1f}", f"{r.fps / r.published_fps:.2f}")
    table.add_row("DRAM power P_bw (mW)", f"{r.power_bw_w * 1e3:.1f}", "-", "-")
    console.print(table)
    if not 0.5 <= r.ratio <= 2.0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("oracle")(oracle_cmd)
    app.command("calibrate")(calibrate_cmd)
