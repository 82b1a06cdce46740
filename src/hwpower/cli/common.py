"""Helpers shared by the CLI modules: clean error exit and key=value parsing."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import HwpowerError

console = Console()
err_console = Console(stderr=True)

# Every command that writes --out takes one of these; the policy itself is in hwpower.io.
FORCE = typer.Option(False, "--force", help="Replace the folder at --out if this same command wrote it "
                     "(nothing else is ever replaced).")
FORCE_FILE = typer.Option(False, "--force", help="Replace existing --out file(s) (never an input, nor a file "
                          "inside an input folder).")


class _State:
    debug = False  # --debug: let errors surface with their traceback


def set_debug(debug: bool) -> None:
    _State.debug = debug


def print_warning(message: str) -> None:
    """One warning line on stderr (the command line's sink for :func:`hwpower.plausibility.warn`)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def print_python_warning(message: Warning | str, category: type[Warning]) -> None:
    """A Python warning as one line. The out-of-domain guard's warnings carry ``details`` (every
    operator and feature outside the training support): ``--debug`` prints them one per line."""
    details = getattr(message, "details", None) or []
    more = f" (hwpower --debug lists all {len(details)})" if len(details) > 1 and not _State.debug else ""
    print_warning(f"{category.__name__}: {message}{more}")
    if details and _State.debug:
        from ..model.support import describe

        for problem in details:
            err_console.print(f"  {escape(describe(problem))}", highlight=False, soft_wrap=True)


def _data_errors() -> tuple[type[BaseException], ...]:
    """Errors of reading data that are the input's fault, not hwpower's: those of the libraries
    already imported (one that was not imported cannot have raised)."""
    errors: list[type[BaseException]] = [OSError, UnicodeError, json.JSONDecodeError]
    if "pyarrow" in sys.modules:
        errors.append(sys.modules["pyarrow"].ArrowException)
    if "safetensors" in sys.modules:
        errors.append(sys.modules["safetensors"].SafetensorError)
    return tuple(errors)


def describe_error(exc: BaseException) -> str:
    """One line: what went wrong, where, and what to do."""
    if isinstance(exc, HwpowerError):
        return str(exc)
    if isinstance(exc, OSError):
        names = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        what = exc.strerror or type(exc).__name__
        return f"{names}: {what}: check the path and its permissions" if names else f"{what}: check the paths given"
    if isinstance(exc, json.JSONDecodeError):
        return (f"malformed JSON (line {exc.lineno} column {exc.colno}: {exc.msg}): the file is damaged; "
                "write it again with the command that made it")
    if isinstance(exc, UnicodeError):
        return f"not UTF-8 text ({exc}): the file is damaged or not a text file"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot read the data ({type(exc).__name__}: {first}): the file is damaged; write it again"


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn hwpower's own errors and the input's OS and data errors into a one-line message and exit
    code 2, not a traceback (``hwpower --debug`` shows the traceback instead)."""
    try:
        yield
    except (HwpowerError, *_data_errors()) as exc:
        if _State.debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(describe_error(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def parse_assignments(text: str, *, what: str = "value") -> dict[str, str]:
    """Parse ``a=1,b=2`` into ``{"a": "1", "b": "2"}``; raises a clear error on malformed parts."""
    from ..errors import InputError

    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"expected name=value, got {part!r}", where=what)
        out[key.strip()] = value.strip()
    return out
