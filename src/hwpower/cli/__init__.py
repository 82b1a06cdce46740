"""The ``hwpower`` command line. Each module here only parses arguments, calls the library and
prints what it returns (the Rich tables are built in :mod:`.tables`). Command modules import the
library inside their commands, so that ``hwpower --help`` loads neither torch nor pandas."""

from __future__ import annotations

import logging
import warnings

import typer

from ..plausibility import set_warning_sink
from . import adapt, demo, generate, nets, oracle, process, report, search, train
from .common import print_python_warning, print_warning, set_debug

app = typer.Typer(
    name="hwpower",
    help="Predict the power a neural network draws on a parameterized accelerator, and find hardware parameters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
          debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an error instead of one "
                                     "line (for reporting a bug), and every operator and feature an out-of-domain "
                                     "warning summarizes.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    set_debug(debug)
    set_warning_sink(print_warning)  # warnings (implausible values, repeated rows) as one line each on stderr


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print_python_warning(message, category)


def main() -> None:
    """The console entry point: Python warnings (the predictor's out-of-domain guard) print as one
    line each, without the source line Python adds. Set here, not in the callback, so that a test
    runner's own warning capture around ``app`` is left alone."""
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        app()


app.add_typer(nets.app, name="nets")
for _module in (oracle, generate, process, train, adapt, search, report, demo):  # one command group each
    _module.register(app)
