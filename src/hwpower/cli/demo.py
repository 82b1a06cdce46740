"""``hwpower demo``: run the whole pipeline on the embedded default data."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import console, user_errors


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-output"), help="Folder for every output of the demo: new, empty, or a "
                                 "previous demo output (replaced)."),
        epochs: int = typer.Option(50, min=1, help="Training epochs for the demo's predictor."),
    ) -> None:
        """Generate, process, train, search and report on the embedded default data."""
        from ..demo import run_demo

        with user_errors():
            run_demo(out, console=console, epochs=epochs)
