"""``hwpower process``: raw folder -> processed Parquet dataset, with a summary table."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, console, user_errors


def register(app: typer.Typer) -> None:
    @app.command("process")
    def process_cmd(
        raw_dir: Path = typer.Argument(..., help="Raw folder: nets_*.json, train_*.txt, val_*.txt."),
        out: Path = typer.Option(..., "--out", help="Processed dataset folder: new, empty, or a previous "
                                 "output of `hwpower process` (with --force; replaced atomically)."),
        schema: Path | None = typer.Option(None, "--schema", help="Dataset schema TOML for users' own files."),
        skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows",
                                           help="Set bad rows aside in rejects.parquet instead of stopping."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        strict: bool = typer.Option(False, "--strict", help="Refuse (exit 2) what is otherwise a warning: duplicate "
                                    "rows, validation rows repeated in training, implausible hardware values or "
                                    "networks, a last line without newline, a shard changed since generated."),
        ray: str | None = typer.Option(None, "--ray", help="Read, parse and check the shards as Ray tasks: local, "
                                       "auto or a cluster ADDRESS; the same files as a local run (docs/scale.md)."),
        force: bool = FORCE,
    ) -> None:
        """Merge train/val shards, store each network once with its features, write Parquet + manifest."""
        from ..io import check_output_dir
        from ..processing import process
        from .tables import dataset_table

        with user_errors():
            check_output_dir(out, command="process", force=force, inputs=[raw_dir, schema])
            ds = process(raw_dir, out, schema=schema, skip_bad_rows=skip_bad_rows, progress=progress, strict=strict,
                         ray_address=ray)
        if ds.manifest["schema"]["inferred"]:
            console.print(ds.manifest["schema"]["description"], markup=False, highlight=False)
        console.print(dataset_table(ds))
        if len(ds.rejects):
            console.print(f"{len(ds.rejects)} rejected rows set aside in {out / 'rejects.parquet'}")
        console.print(f"wrote {out}")
