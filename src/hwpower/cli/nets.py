"""``hwpower nets``: sample, import and show networks."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
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
    from rich.progress import Progress  # library imports live in the commands: `hwpower --help` starts fast

    from ..networks import sample_networks, write_networks

    with user_errors():
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task(f"sampling {space}", total=n)
            nets = sample_networks(space, n, seed, progress=lambda done: bar.update(task, completed=done))
        write_networks(out, nets)
    console.print(f"wrote {len(nets)} networks from {space} to {out}")


@app.command("import")
def import_(
    sources: list[str] = typer.Argument(..., help="SOURCE:NAME, e.g. torchvision:resnet50; several allowed."),
    out: Path = typer.Option(..., help="Output nets_*.json file."),
    net_id: int = typer.Option(0, "--id", min=0, help="Id of the first network; further ones count up."),
    resolution: int = typer.Option(224, min=1, help="Input resolution (px)."),
    num_classes: int = typer.Option(1000, min=1, help="Classifier outputs."),
) -> None:
    """Import model definitions (no weights downloaded) as block sequences into a nets file."""
    from ..networks import write_networks
    from ..networks.importers import import_network

    with user_errors():
        nets = {net_id + i: import_network(s, num_classes=num_classes, resolution=resolution)
                for i, s in enumerate(sources)}
        write_networks(out, nets)
    for i, net in nets.items():
        c = net.counts
        console.print(f"{i}: {net.name}: {len(net.blocks)} blocks, {c.macs / 1e9:.3f} GMACs, {c.weights:,} weights")
    console.print(f"wrote {len(nets)} network(s) to {out}")


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="A nets_*.json file."),
    net_id: int | None = typer.Option(None, "--id", help="Show this network's blocks."),
) -> None:
    """Block table of one network (MACs, weights, activations, totals), or a summary of many."""
    from ..networks import read_networks
    from ..networks.show import network_table, summary_table

    with user_errors():
        nets = read_networks(file)
        if net_id is not None and net_id not in nets:
            raise InputError(f"no network {net_id} (ids {min(nets)}..{max(nets)}, {len(nets)} networks)",
                             file=str(file), where="--id")
    if net_id is None and len(nets) > 1:
        console.print(summary_table(nets, title=str(file)))
        return
    net_id = next(iter(nets)) if net_id is None else net_id
    name = f" ({nets[net_id].name})" if nets[net_id].name else ""
    console.print(network_table(nets[net_id], title=f"{file} network {net_id}{name}"))
