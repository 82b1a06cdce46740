"""What a run folder holds for the report: training, evaluation, experiments, searches.

Each artifact is optional; the report shows a section for what is there and says what is absent.
Where files are looked for (``RUN`` is the run folder):

* training: ``RUN/history.json`` and the figures ``RUN/curves.png``, ``RUN/parity.png``
  (written by ``hwpower train``); a trained predictor in ``RUN/best``;
* evaluation: ``RUN/evaluation.json`` (``hwpower evaluate``); zoo networks never trained on,
  scored against the oracle: ``RUN/zoo.json`` (``hwpower demo``, :func:`hwpower.model.evaluate.write_zoo_evaluation`);
* experiments: ``sizes.json``/``sizes.png`` and ``data.json``/``data.png`` in ``RUN`` or
  ``RUN/experiments`` (``hwpower experiment sizes|data --out``);
* searches: any JSON in ``RUN``, ``RUN/search*/`` or ``RUN/results/`` whose ``task`` is recover,
  identify or design (``hwpower recover|identify|design --out``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

log = logging.getLogger(__name__)

SEARCH_TASKS = ("recover", "identify", "design")
RUN_FIGURES = {"curves": "Training curves (from the run).", "parity": "Predicted against true values on val (from the run)."}
EXPERIMENTS = ("sizes", "data")


@dataclass
class RunArtifacts:
    run_dir: Path
    history: pd.DataFrame | None = None
    figures: dict[str, Path] = field(default_factory=dict)  # run's own PNGs: name -> file
    evaluation: dict[str, Any] | None = None
    zoo: dict[str, Any] | None = None
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)  # sizes/data -> JSON
    experiment_figures: dict[str, Path] = field(default_factory=dict)
    searches: dict[str, dict[str, Any]] = field(default_factory=dict)  # file stem -> search result JSON

    @property
    def has_predictor(self) -> bool:
        return (self.run_dir / "best" / "meta.json").is_file() or (self.run_dir / "meta.json").is_file()


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", file=str(path), where=f"line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from None


def _records(path: Path, key: str | None) -> pd.DataFrame:
    data = read_json(path)
    rows = data.get(key) if key and isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"expected a list of objects{f' under {key!r}' if key else ''}", file=str(path))
    return pd.DataFrame(rows)


def read_run(run_dir: str | os.PathLike[str]) -> RunArtifacts:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("run folder not found", file=str(run_dir))
    art = RunArtifacts(run_dir)
    if (run_dir / "history.json").is_file():
        art.history = _records(run_dir / "history.json", None)
        if "epoch" not in art.history:
            raise InputError("history entries have no 'epoch'", file=str(run_dir / "history.json"))
    art.figures = {name: run_dir / f"{name}.png" for name in RUN_FIGURES if (run_dir / f"{name}.png").is_file()}
    if (run_dir / "evaluation.json").is_file():
        art.evaluation = read_json(run_dir / "evaluation.json")
    if (run_dir / "zoo.json").is_file():
        art.zoo = read_json(run_dir / "zoo.json")
        _records(run_dir / "zoo.json", "networks")  # checks the layout, names the file if wrong
    for folder in (run_dir, run_dir / "experiments"):
        for name in EXPERIMENTS:
            if (folder / f"{name}.json").is_file() and name not in art.experiments:
                art.experiments[name] = read_json(folder / f"{name}.json")
                _records(folder / f"{name}.json", "rows")  # checks the layout, names the file if wrong
                if (folder / f"{name}.png").is_file():
                    art.experiment_figures[name] = folder / f"{name}.png"
    candidates = [run_dir.glob("*.json"), run_dir.glob("search*/*.json"), run_dir.glob("results/*.json")]
    for path in sorted(p for group in candidates for p in group):
        if path.name in ("history.json", "evaluation.json") or path.stem in EXPERIMENTS:
            continue
        data = read_json(path)
        if isinstance(data, dict) and data.get("task") in SEARCH_TASKS:
            art.searches[f"{path.parent.name}_{path.stem}" if path.parent != run_dir else path.stem] = data
    log.info("run %s: history=%s evaluation=%s experiments=%s searches=%s", run_dir, art.history is not None,
             art.evaluation is not None, sorted(art.experiments), sorted(art.searches))
    return art


def evaluation_metrics(evaluation: dict[str, Any]) -> pd.DataFrame:
    """``evaluation.json``'s ``splits`` (split -> target -> metric) as one row per split and target."""
    splits = evaluation.get("splits")
    if not isinstance(splits, dict):
        raise InputError("evaluation.json has no 'splits' object")
    rows = [{"split": split, "target": target, **m} for split, per_target in splits.items() for target, m in per_target.items()]
    return pd.DataFrame(rows)


def json_tables(data: Any, *, skip: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Tables from arbitrary JSON: lists of objects become tables, nested scalars one key/value table
    (``summary``, last). Fields whose dotted path starts with one of ``skip`` are left out.

    Used for search results, whose extra tables vary by task, so that new fields appear in the
    report without a change here.
    """
    tables: dict[str, pd.DataFrame] = {}
    scalars: dict[str, str] = {}

    def walk(obj: Any, path: str) -> None:
        if path and path.startswith(skip):
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
            tables[path or "records"] = pd.json_normalize(obj)
        elif isinstance(obj, list):
            scalars[path] = ", ".join(map(_fmt, obj))
        else:
            scalars[path] = _fmt(obj)

    walk(data, "")
    if scalars:
        tables["summary"] = pd.DataFrame({"field": list(scalars), "value": list(scalars.values())})
    return tables


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
