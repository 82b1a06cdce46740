"""Helpers shared by the CLI modules: clean error exit and key=value parsing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from ..errors import HwpowerError

console = Console()
err_console = Console(stderr=True)

# Every command that writes --out takes one of these; the policy itself is in hwpower.io.
FORCE = typer.Option(False, "--force", help="Replace the folder at --out if this same command wrote it "
                     "(nothing else is ever replaced).")
FORCE_FILE = typer.Option(False, "--force", help="Replace existing --out file(s) (never an input, nor a file "
                          "inside an input folder).")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn hwpower's own errors into a one-line message and exit code 2, not a traceback."""
    try:
        yield
    except HwpowerError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
