"""``hwpower nets``: sample, import and show networks."""

from __future__ import annotations

from pathlib import Path

import typer

from ..networks import sample_networks, write_networks
from .common import console, user_errors

app = typer.Typer(help="Networks as block sequences: sample from a search space, import, show.", no_args_is_help=True)


@app.command("sample")
def sample(
    space: str = typer.Option("ofa-mbv3", help="Registered search space."),
    n: int = typer.Option(100, "-n", min=1, help="Number of distinct networks."),
    seed: int = typer.Option(0, help="Random seed; same seed, same networks."),
    out: Path = typer.Option(..., help="Output nets_*.json file."),
) -> None:
    """Sample distinct networks from a search space into a nets file."""
    with user_errors():
        nets = sample_networks(space, n, seed)
        write_networks(out, nets)
    console.print(f"wrote {len(nets)} networks from {space} to {out}")
