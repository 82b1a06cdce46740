"""The training runner: train a model into a run folder (checkpoints, run marker, interval
calibration, figures), resume a run with its saved settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import start_output_dir
from ..runstate import check_resume_params, mark_run
from .checkpoint import read_meta
from .plots import parity, training_curves
from .predictor import Predictor, make_model
from .training import train
from .uncertainty import calibrate

log = logging.getLogger(__name__)


def saved_params(run_dir: str | Path) -> tuple[str, dict[str, Any]]:
    """(model name, hyperparameters) of the run's last checkpoint, to resume it as it was started."""
    cfg = read_meta(Path(run_dir) / "last")["config"]
    params = dict(cfg["params"])
    return params.pop("arch"), {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def train_model(ds, model: str = "structured", *, run_dir: str | Path | None = None, resume: bool = False,
                force: bool = True, progress: bool = True, figures: bool = True, **params: Any) -> Predictor:
    """Train ``model`` on a processed dataset; with ``run_dir``, checkpoint there and save figures.

    ``resume=True`` continues the run in ``run_dir`` with its saved settings (``device`` may change).
    ``run_dir`` must be new or empty, or a previous run: replaced (``force=False`` refuses it, as the
    command line does without ``--force``) or continued (``resume``); any other folder is refused.
    """
    if resume:
        if model == "gbt":
            raise InputError("--resume applies to the neural models; the gbt model trains in one go")
        if run_dir is None or not (Path(run_dir) / "last").is_dir():
            raise InputError("nothing to resume: no last checkpoint", file=str(run_dir))
        model, saved = saved_params(run_dir)
        check_resume_params(saved, params, run_dir)  # issue 15: no option silently ignored (hwpower.runstate)
        params = {**saved, **({"device": params["device"]} if "device" in params else {})}
    est = make_model(model, **params)
    if run_dir is not None:  # after the settings are checked: a bad option never costs the previous run
        start_output_dir(run_dir, command="train", force=force, resume=resume)
        mark_run(run_dir, complete=False)  # issue 15: "complete" in the run's marker (hwpower.runstate)
    train(est, ds, run_dir=run_dir, resume=resume, progress=progress)  # the run's I/O: here, not in est.fit
    predictor = Predictor(est)
    if len(ds.val):  # prediction intervals (.uncertainty), saved with the run
        predictor.calibration = calibrate(predictor, ds)
        if run_dir is not None:
            predictor.calibration.save(run_dir)
    if run_dir is not None and figures:
        save_figures(predictor, ds, Path(run_dir))
    if run_dir is not None:
        mark_run(run_dir, complete=True)
    return predictor


def save_figures(predictor: Predictor, ds, run_dir: Path) -> list[Path]:
    out = []
    history = getattr(predictor.model, "history_", [])
    if history:
        out.append(training_curves(history, run_dir / "curves.png", title=f"Training of the {predictor.name} model"))
    pred = predictor.predict(ds.val, ds, out_of_range="ignore", source="val.parquet")
    out.append(parity(ds.val, pred, ds.unseen_network_mask().to_numpy(), run_dir / "parity.png",
                      title=f"{predictor.name} model: validation predictions against the oracle"))
    return out
