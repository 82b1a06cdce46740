"""Safe output: atomic writes, and the one policy on what a command may replace.

Files and folders are written under a temporary name beside their final path, then renamed, so a
failed run never leaves half an output and a previous good one stays intact.

The policy (every command that writes calls it before any work):

* a new path or an empty folder may always be written;
* an existing folder is replaced only if it is a previous output of the same command (recognized
  by :func:`is_output_of`) and the user passed ``--force`` (``--resume`` reuses a run folder);
* an existing file is replaced only with ``--force``; no file is written inside an input folder;
* an output is never an input, nor holds one; nothing else is ever replaced or deleted.

Temporaries of killed runs (``.NAME.PID.XXXXXXXX.tmp``, ``.NAME.old-PID``) are removed by the next
run writing the same output, once their process is gone (or after a day).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import OutputError

log = logging.getLogger(__name__)

MARKER = ".hwpower-output.json"  # in output folders that have no manifest of their own
STALE_AFTER_S = 24 * 3600  # a temporary this old is stale even if its process id has been reused
PathLike = str | os.PathLike[str]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _os_errors(path: PathLike) -> Iterator[None]:
    """An OS error while preparing or renaming an output: one line naming the path, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


# --- what wrote a folder -------------------------------------------------------------------------

def _json_dict(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _html_title(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            match = re.search(r"<title>(.*?)</title>", f.read(4000))
    except OSError:
        return None
    return match.group(1) if match else None


# Outputs recognized by their own files: those with a manifest or metadata that says what they are,
# and those written before the marker file existed (so that --force still replaces them).
_RECOGNIZED: dict[str, Callable[[Path], bool]] = {
    "process": lambda p: _json_dict(p / "manifest.json").get("format") == "hwpower-processed",
    "generate": lambda p: {"oracle_version", "heldout_networks", "files"} <= _json_dict(p / "manifest.json").keys(),
    "checkpoint": lambda p: {"format", "hwpower_version"} <= _json_dict(p / "meta.json").keys(),
    "train": lambda p: any(_RECOGNIZED["checkpoint"](p / name) for name in ("best", "last")),
    "report": lambda p: _html_title(p / "report.html") == "hwpower report",
    "stats": lambda p: _html_title(p / "report.html") == "hwpower data statistics",
    "demo": lambda p: _RECOGNIZED["generate"](p / "raw") and _RECOGNIZED["process"](p / "processed"),
}


def is_output_of(folder: PathLike, command: str) -> bool:
    """Whether ``folder`` was written by ``hwpower COMMAND`` (its marker file, else its own files)."""
    folder = Path(folder)
    marked = _json_dict(folder / MARKER).get("hwpower_output")
    if marked is not None:
        return marked == command
    return _RECOGNIZED.get(command, lambda _: False)(folder)


def write_marker(folder: PathLike, command: str) -> None:
    from . import __version__

    write_json_atomic(Path(folder) / MARKER, {"hwpower_output": command, "hwpower_version": __version__})


# --- checks ----------------------------------------------------------------------------------------

def _output_path(path: PathLike) -> Path:
    """The absolute path; a symbolic link is refused, as replacing it would not replace its target."""
    given = Path(path)
    if given.is_symlink():
        raise OutputError(f"{given}: is a symbolic link; give the real path")
    return given.resolve()


def _check_inputs(out: Path, inputs: Iterable[PathLike | None]) -> None:
    for given in filter(None, inputs):
        inp = Path(given).resolve()
        if inp == out:
            raise OutputError(f"{out}: is an input of this command; choose another output")
        if inp.is_relative_to(out):
            raise OutputError(f"{out}: contains the input {inp}; choose another output")


def _check_writable(folder: Path, out: Path) -> None:
    """``folder`` (or, if missing, its nearest existing parent) must be a folder we may write in."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{out}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: cannot write in {folder} (permission denied)")


def _check_replaceable(out: Path, command: str) -> bool:
    """Absent, an empty folder, or ``command``'s own output; returns whether it holds an output."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; nothing was changed")
    if not any(out.iterdir()):
        return False
    if not is_output_of(out, command):
        raise OutputError(f"{out}: not empty and not an output of `hwpower {command}`; nothing was changed "
                          "(choose a new or empty folder)")
    return True


def check_output_dir(path: PathLike, *, command: str, force: bool = False, inputs: Iterable[PathLike | None] = (),
                     reuse: bool = False) -> Path:
    """Check, before any work, that ``hwpower COMMAND`` may write the folder ``path``; returns it
    absolute. ``force`` allows replacing a previous output of the same command; ``reuse`` (``--resume``)
    allows continuing in it. Stale temporaries of killed runs of this output are removed."""
    with _os_errors(path):
        out = _output_path(path)
        _check_inputs(out, inputs)
        if _check_replaceable(out, command) and not (force or reuse):
            raise OutputError(f"{out}: holds a previous output of `hwpower {command}`; pass --force to replace it")
        _check_writable(out if reuse and out.is_dir() else out.parent, out)
        remove_stale(out)
    return out


def check_output_file(path: PathLike, *, force: bool = False, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Check, before any work, that a command may write the file ``path``; returns it absolute.
    An existing file needs ``force``; nothing is ever written inside an input folder."""
    inputs = [Path(i).resolve() for i in inputs if i]
    with _os_errors(path):
        out = _output_path(path)
        _check_inputs(out, inputs)
        inside = next((i for i in inputs if i.is_dir() and out.is_relative_to(i)), None)
        if inside is not None:
            raise OutputError(f"{out}: lies in the input folder {inside}; choose another place")
        if out.exists():
            if not out.is_file():
                raise OutputError(f"{out}: exists and is not a file; nothing was changed")
            if not force:
                raise OutputError(f"{out}: exists; pass --force to replace it")
        _check_writable(out.parent, out)
        remove_stale(out)
    return out


def start_output_dir(path: PathLike, *, command: str, force: bool = False, inputs: Iterable[PathLike | None] = (),
                     resume: bool = False) -> Path:
    """For an output written in place over time (a run folder): check it as :func:`check_output_dir`,
    then empty it (a previous output, with ``force``) unless resuming, create it and mark it."""
    out = check_output_dir(path, command=command, force=force, inputs=inputs, reuse=resume)
    with _os_errors(out):
        if out.is_dir() and any(out.iterdir()) and not resume:
            # Renamed first, then deleted: a crash meanwhile leaves a stale `.NAME.old-PID` that the
            # next run removes, never half of the previous output looking whole.
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            shutil.rmtree(old)
        if resume and not out.is_dir():
            return out  # nothing to resume: the command says so
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARKER).is_file():
            write_marker(out, command)
    return out


# --- temporaries of killed runs -------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a process id: leave it to the age rule
    return True


def remove_stale(path: PathLike) -> list[Path]:
    """Remove the temporaries that killed runs left beside ``path`` (our naming only, this name only),
    once their process is gone or after :data:`STALE_AFTER_S`; returns what was removed."""
    path = Path(path)
    name = re.escape(path.name)
    # .NAME.PID.XXXXXXXX.tmp (now), .NAME.XXXXXXXX.tmp (before process ids were in the name), .NAME.old-PID
    pattern = re.compile(rf"\.{name}\.(?:(\d+)\.[a-z0-9_]{{8}}\.tmp|[a-z0-9_]{{8}}\.tmp|old-(\d+))")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return []
    removed = []
    for p in siblings:
        match = pattern.fullmatch(p.name)
        if match is None or p.is_symlink():
            continue
        pid = match.group(1) or match.group(2)
        try:
            if (pid is None or _alive(int(pid))) and time.time() - p.lstat().st_mtime < STALE_AFTER_S:
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        except OSError as exc:
            log.warning("could not remove %s, left by an interrupted run: %s", p, exc.strerror or exc)
            continue
        log.warning("removed %s, left by an interrupted run", p)
        removed.append(p)
    return removed


# --- atomic writes --------------------------------------------------------------------------------

def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."  # the process id lets a later run tell a killed run's leftovers


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    with _os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with _os_errors(path):
            # mkstemp creates 0600 files; give the result the permissions a plain open() would.
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: PathLike, *, command: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    Used for multi-file outputs (a processed dataset, a report): either every file of the new
    output is there, or the previous output is untouched. Only an empty folder or a previous output
    of ``command`` is ever replaced (checked before and again at the swap); the new folder is made
    recognizable as ``command``'s output (a marker file unless its own files say so).
    """
    with _os_errors(path):
        path = _output_path(path)
        _check_replaceable(path, command)
        remove_stale(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if not is_output_of(tmp, command):
            write_marker(tmp, command)
        with _os_errors(path):
            os.chmod(tmp, 0o777 & ~_umask())
            _check_replaceable(path, command)  # again: something may have appeared there meanwhile
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
