"""Whether a training run finished, and whether ``--resume`` asks for the run it would continue.

``train_model`` records ``"complete": false`` in the run folder's marker (``hwpower.io.MARKER``) when
it starts and ``true`` when the model and its figures are written; a run killed in between keeps
``false``. Commands that use a run (``predict``, ``evaluate``, ``recover``, ``identify``, ``design``)
warn about an incomplete one. Runs written before the flag existed have none and are not warned about.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import MARKER, write_json_atomic
from .plausibility import warn


def _marker(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MARKER
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # a damaged marker says nothing about completeness; io's checks report it where it matters
    return data if isinstance(data, dict) else {}


def mark_run(run_dir: str | Path, *, complete: bool) -> None:
    """Record in the run's marker whether its training finished (the marker exists: start_output_dir)."""
    marker = _marker(Path(run_dir))
    if marker:
        write_json_atomic(Path(run_dir) / MARKER, {**marker, "complete": complete})


def _epochs(run_dir: Path) -> tuple[int, int] | None:
    """(epochs done, epochs planned) from the last checkpoint, or None."""
    try:
        meta = json.loads((run_dir / "last" / "meta.json").read_text(encoding="utf-8"))
        return int(meta["epoch"]), int(meta["config"]["params"]["epochs"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def incomplete_message(run_dir: str | Path) -> str | None:
    """The warning for a run whose training did not finish, else None."""
    run_dir = Path(run_dir)
    if _marker(run_dir).get("complete", True):
        return None
    epochs = _epochs(run_dir)
    when = f"killed at epoch {epochs[0]} of {epochs[1]}" if epochs else "killed before it finished"
    return (f"run {run_dir} is incomplete ({when}): it uses the best checkpoint saved so far; "
            f"`hwpower train ... --out {run_dir} --resume` finishes it")


def warn_if_incomplete(run_dir: str | Path) -> None:
    text = incomplete_message(run_dir)
    if text:
        warn(text)


# ``hwpower train`` options -> the saved hyperparameter each sets (``--resume`` keeps the saved ones).
RESUME_OPTIONS = {"model": "arch", "targets": "targets", "elements": "elements", "epochs": "epochs",
                  "batch_size": "batch_size", "lr": "lr", "hidden": "hidden", "depth": "depth",
                  "patience": "patience", "seed": "seed"}


def check_resume_options(saved: dict[str, Any], given: dict[str, Any], run_dir: str | Path) -> None:
    """Refuse ``--resume`` with options (given on the command line) that differ from the saved run's."""
    differ = []
    for option, value in given.items():
        key = RESUME_OPTIONS.get(option)
        if key is None or key not in saved:
            continue
        old = tuple(saved[key]) if isinstance(saved[key], list) else saved[key]
        if old != value:
            differ.append(f"--{option.replace('_', '-')} {_show(value)} (the run has {_show(old)})")
    if differ:
        raise InputError("--resume continues the run with its saved settings, but these options differ: "
                         f"{'; '.join(differ)}; drop them, or train a new run (--out elsewhere, or --force)",
                         file=str(run_dir))


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def check_resume_params(saved: dict[str, Any], params: dict[str, Any], run_dir: str | Path) -> None:
    """The Python form of :func:`check_resume_options`: ``train_model(resume=True, **params)`` with a
    hyperparameter (other than ``device``) that differs from the saved run's is an error."""
    differ = []
    for key, value in params.items():
        if key == "device" or key not in saved:
            continue
        old = tuple(saved[key]) if isinstance(saved[key], list) else saved[key]
        new = tuple(value) if isinstance(value, list) else value
        if old != new:
            differ.append(f"{key}={_show(new)} (the run has {_show(old)})")
    if differ:
        raise InputError("resume continues the run with its saved settings, but these differ: "
                         f"{'; '.join(differ)}", file=str(run_dir))
