"""``hwpower generate``: the seed's raw data from the oracle."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, console, user_errors

DEFAULT_SPACES = "ofa-mbv3,resnet,transformer,mixed"  # = hwpower.generate.plan.DEFAULT_SPACES (light import here)


def generate_cmd(
    out: Path = typer.Option(..., help="Raw data folder: new, empty, or a previous output of `hwpower generate` "
                             "(with --force; replaced as a whole)."),
    networks: int = typer.Option(300, help="Networks sampled from the search spaces, split by their shares."),
    spaces: str = typer.Option(DEFAULT_SPACES, help="Search spaces and shares, NAME[:SHARE],... (a missing share "
                               "is 1); one nets file per space (nets_NAME.json), or nets_0.json for a single space."),
    train_rows: int = typer.Option(30_000, help="Training rows in total."),
    val_rows: int = typer.Option(3_000, help="Validation rows in total."),
    seed: int = typer.Option(0, help="Random seed; same seed, byte-identical files."),
    space: Path | None = typer.Option(None, help="Hardware space file (TOML); default: the built-in space."),
    noise: float = typer.Option(0.0, help="Relative measurement noise on P_core, P_bw and latency."),
    backend: str = typer.Option("analytical", help="analytical or zigzag."),
    heldout_fraction: float = typer.Option(0.2, help="Fraction of networks that appear only in val."),
    shards: int | None = typer.Option(None, help="Files per split; default 4, more when a file would exceed "
                                      "250,000 rows (memory follows the largest file, not the rows: docs/scale.md)."),
    ray: str | None = typer.Option(None, "--ray", help="Spread shards over Ray: local (a Ray instance on this "
                                   "machine), auto (the cluster this machine joined) or a cluster ADDRESS; the same "
                                   "files as a local run (docs/scale.md)."),
    tech_nm: int = typer.Option(45, help="Technology node (nm): 45 or 65."),
    dram: str = typer.Option("lpddr4", help="DRAM type: lpddr4, gddr5, hbm2, ddr3."),
    schedule: str = typer.Option("fused", help="fused: activations that fit stay on chip (whole or as depth-first "
                                 "tiles); layer: every activation goes through DRAM (recorded in the manifest; docs/oracle.md, Schedule)."),
    reference: bool = typer.Option(False, "--reference/--no-reference", help="Add the 5 torchvision reference "
                                   "networks (nets_ref.json; zoo models, so off by default)."),
    tech: str | None = typer.Option(None, help="Fitted technology constants (`hwpower calibrate --fit ... --out "
                                    "FILE`), or 'builtin' for the fit of the published chips; recorded in the manifest."),
    force: bool = FORCE,
) -> None:
    """Write nets_*.json, train_*.txt, val_*.txt and manifest.json (docs/data-format.md)."""
    from ..generate import GenerateConfig, generate  # heavy (oracle, pandas, ray): only when run
    from ..io import check_output_dir
    from ..oracle import HardwareSpace
    from ..oracle.settings import tech_settings

    with user_errors():
        check_output_dir(out, command="generate", force=force, inputs=[space])
        config = GenerateConfig(
            networks=networks, train_rows=train_rows, val_rows=val_rows, seed=seed,
            space=HardwareSpace.from_toml(space) if space else HardwareSpace.default(), noise=noise,
            backend=backend, heldout_fraction=heldout_fraction, shards=shards, ray_address=ray,
            settings=tech_settings(tech, tech_nm=tech_nm, dram=dram, schedule=schedule), include_reference=reference,
            search_space=spaces,
        )
        manifest = generate(out, config)
    c = manifest["counts"]
    console.print(f"wrote {c['train_rows']} train and {c['val_rows']} val rows over {c['networks']} networks "
                  f"({len(manifest['heldout_networks'])} held out) to {out}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
