"""The ``hwpower`` command line. Each module here only parses arguments and calls the library."""

from __future__ import annotations

import logging
import warnings

import typer

from ..plausibility import set_warning_sink
from . import nets as _nets
from .common import print_warning, set_debug

app = typer.Typer(
    name="hwpower",
    help="Predict the power a neural network draws on a parameterized accelerator, and find hardware parameters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
          debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an error instead of one "
                                     "line (for reporting a bug).")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    set_debug(debug)
    set_warning_sink(print_warning)  # warnings (implausible values, repeated rows) as one line each on stderr


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print_warning(f"{category.__name__}: {message}")


def main() -> None:
    """The console entry point: Python warnings (the predictor's out-of-domain guard) print as one
    line each, without the source line Python adds. Set here, not in the callback, so that a test
    runner's own warning capture around ``app`` is left alone."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        app()


app.add_typer(_nets.app, name="nets")

# Other command groups register here, one module each (see the modules of this package).
for _module_name in ("oracle", "generate", "process", "train", "adapt", "search", "report", "demo"):
    try:
        _module = __import__(f"{__name__}.{_module_name}", fromlist=["register"])
    except ModuleNotFoundError as exc:  # only a module not written yet is skipped; real import errors surface
        if exc.name != f"{__name__}.{_module_name}":
            raise
        continue
    _module.register(app)
