"""The ``hwpower`` command line. Each module here only parses arguments and calls the library."""

from __future__ import annotations

import logging

import typer

from . import nets as _nets

app = typer.Typer(
    name="hwpower",
    help="Predict the power a neural network draws on a parameterized accelerator, and find hardware parameters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


app.add_typer(_nets.app, name="nets")

# Other command groups register here, one module each (see the modules of this package).
for _module_name in ("oracle", "generate", "process", "train", "search", "report", "demo"):
    try:
        _module = __import__(f"{__name__}.{_module_name}", fromlist=["register"])
    except ModuleNotFoundError as exc:  # only a module not written yet is skipped; real import errors surface
        if exc.name != f"{__name__}.{_module_name}":
            raise
        continue
    _module.register(app)
