"""``hwpower nets``: sample, import and show networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperOption

from ..errors import InputError
from .common import FORCE_FILE, console, user_errors

app = typer.Typer(help="Networks as operator graphs or block sequences: sample from a search space, import, show.",
                  no_args_is_help=True)


class _SampleCommand(TyperCommand):
    """Lists the registered search spaces in ``--space``'s help, importing them only when help is
    shown (importing at start would load the library for every ``hwpower`` command)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:  # Typer's own click types
        from ..networks.spaces import SEARCH_SPACES

        for param in self.params:
            if param.name == "space" and isinstance(param, TyperOption):
                param.help = f"Registered search space: {', '.join(sorted(SEARCH_SPACES))}."
        super().format_help(ctx, formatter)


@app.command("sample", cls=_SampleCommand)
def sample(
    space: str = typer.Option("ofa-mbv3", help="Registered search space (listed by --help)."),
    n: int = typer.Option(100, "-n", min=1, help="Number of distinct networks."),
    seed: int = typer.Option(0, help="Random seed; same seed, same networks."),
    out: Path = typer.Option(..., help="Output nets_*.json file (an existing one is replaced only with --force)."),
    force: bool = FORCE_FILE,
) -> None:
    """Sample distinct networks from a search space into a nets file."""
    from rich.progress import Progress  # library imports live in the commands: `hwpower --help` starts fast

    from ..io import check_output_file
    from ..networks import sample_networks, write_networks

    with user_errors():
        check_output_file(out, force=force)
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task(f"sampling {space}", total=n)
            nets = sample_networks(space, n, seed, progress=lambda done: bar.update(task, completed=done))
        write_networks(out, nets)
    console.print(f"wrote {len(nets)} networks from {space} to {out}")


@app.command("import")
def import_(
    sources: list[str] = typer.Argument(..., help="SOURCE:NAME: torchvision:resnet50 (operator graph), "
                                        "torchvision-blocks:resnet50 (block form), "
                                        "module:timm:create_model?model_name=resnet50, onnx:model.onnx, "
                                        "hf:bert-base (docs/importers.md); several allowed."),
    out: Path = typer.Option(..., help="Output nets_*.json file (an existing one is replaced only with --force)."),
    net_id: int = typer.Option(0, "--id", min=0, help="Id of the first network; further ones count up."),
    resolution: int | None = typer.Option(None, min=1, help="Image side (px); default: the model's own "
                                          "(torchvision: its weights' crop size)."),
    batch: int = typer.Option(1, min=1, help="Batch size of the input."),
    input_shape: str | None = typer.Option(None, help="Whole input shape, e.g. 1,3,224,224 (overrides "
                                           "--resolution and --batch)."),
    num_classes: int | None = typer.Option(None, min=1, help="Classifier outputs; default: the model's own."),
    seq_len: int | None = typer.Option(None, "--seq-len", min=1, help="Tokens of a text model (hf:); default 128."),
    force: bool = FORCE_FILE,
) -> None:
    """Import model definitions (no weights downloaded) as operator graphs into a nets file."""
    from ..io import check_output_file
    from ..networks import GraphNetwork, write_networks
    from ..networks.importers import ImportOptions, import_network

    with user_errors():
        if seq_len is not None and resolution is not None:
            raise InputError("give --seq-len (text) or --resolution (images), not both", where="--seq-len")
        options = ImportOptions(num_classes=num_classes, resolution=seq_len or resolution, batch=batch,
                                input_shape=_shape_option(input_shape))
        check_output_file(out, force=force)
        nets = {net_id + i: import_network(s, options) for i, s in enumerate(sources)}
        write_networks(out, nets)
    for i, net in nets.items():
        c = net.counts
        if isinstance(net, GraphNetwork):
            shape, parts = list(net.input_shape), f"{len(net.ops)} operators"
        else:
            shape, parts = [1, 3, net.input_resolution, net.input_resolution], f"{len(net.blocks)} blocks"
        console.print(f"{i}: {net.name}: input {shape}, {parts}, {c.macs / 1e9:.3f} GMACs, {c.weights:,} weights")
    console.print(f"wrote {len(nets)} network(s) to {out}")


def _shape_option(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise InputError(f"expected positive integers separated by commas, e.g. 1,3,224,224; got {text!r}",
                         where="--input-shape")
    return shape


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="A nets_*.json file."),
    net_id: int | None = typer.Option(None, "--id", help="Show this network's blocks or operators."),
) -> None:
    """Block or operator table of one network (MACs, weights, activations, totals), or a summary of many."""
    from ..networks import read_networks
    from .network_tables import network_table, summary_table

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
