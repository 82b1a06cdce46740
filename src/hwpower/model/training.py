"""The training loop of :class:`~.neural.NeuralPowerModel`: deterministic, checkpointed every epoch,
resumable bit for bit (optimizer, scheduler, RNG and early-stopping state are all saved).

This module sits below the estimator: the neural model's ``fit`` calls :func:`train`; ``neural.py``
is imported here for annotations only (under ``TYPE_CHECKING``), so the two form no import circle.

:func:`train` is the training runner's entry point for either estimator: it owns the I/O and run
options (run folder, resume, progress bar, the ``stop_after`` test hook), so that the estimators'
``fit(ds)`` stays the plain scikit-learn call (hyperparameters in ``__init__``, returns self)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import CheckpointError, InputError
from ..io import write_json_atomic
from .checkpoint import load_train_state, load_weights, read_meta, save_checkpoint
from .gbt import GBTPowerModel
from .encoding import Encoded, resolve_device
from .tables import NetworkTables

if TYPE_CHECKING:  # for annotations only: the estimator imports this module, never the reverse at run time
    from .neural import NeuralPowerModel

log = logging.getLogger(__name__)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=False)


def prepare(model: NeuralPowerModel, ds) -> tuple[Any, Encoded, Encoded, np.ndarray]:
    """Encode the networks once and the samples of both splits; returns (nets, train, val, es_mask)."""
    cols = model.hw_encoder_.columns + ["network", *model.targets]
    keys = sorted(set(ds.train["network"]) | set(ds.val["network"]))
    nets = model.encode_networks(NetworkTables.of(ds), keys, source="processed dataset")
    tr = model.encode_samples(ds.train[cols], nets, with_targets=True, source="train.parquet", out_of_range="ignore")
    va = model.encode_samples(ds.val[cols], nets, with_targets=True, source="val.parquet", out_of_range="ignore")
    # Early stopping watches the validation rows on unseen hardware only, so the held-out networks
    # stay a clean test of generalisation; without such rows it falls back to all validation rows.
    seen = ds.val["network"].isin(set(ds.train["network"])).to_numpy()
    return nets, tr, va, seen if seen.any() else np.ones(len(ds.val), dtype=bool)


def _val_loss(model: NeuralPowerModel, val: Encoded, nets, cols: list[int]) -> tuple[float, float]:
    pred = torch.from_numpy(model.predict_log(val, nets))[:, cols]
    err = pred - val.y
    return float((err ** 2).mean()), float((err.exp() - 1).abs().mean() * 100)


def _restore(model: NeuralPowerModel, run_dir: Path, opt, sched, gen: torch.Generator) -> dict[str, Any]:
    last = run_dir / "last"
    meta = read_meta(last)
    saved = meta["config"]["params"]
    mine = {k: v for k, v in model.get_params().items() if k != "device"}
    diff = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
    if diff:
        raise CheckpointError(f"{last}: cannot resume with different settings {diff} (saved, given)")
    model.module_.load_state_dict(load_weights(last))
    state = load_train_state(last)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return state["loop"]


def _save(model: NeuralPowerModel, folder: Path, loop: dict[str, Any], opt=None, sched=None, gen=None) -> None:
    meta = {"config": model.config(), "epoch": loop["epoch"], "best_val_loss": loop["best"], "history": loop["history"]}
    state = None
    if opt is not None:
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state(),
                 "torch_rng": torch.get_rng_state(), "loop": loop}
    save_checkpoint(folder, model.module_.state_dict(), meta, state)


def train(model: NeuralPowerModel | GBTPowerModel, ds, *, run_dir: str | Path | None = None, resume: bool = False,
          progress: bool = True, stop_after: int | None = None) -> NeuralPowerModel | GBTPowerModel:
    """Fit ``model`` on a processed dataset and return it; with ``run_dir``, checkpoint there (the
    neural model every epoch into ``last`` and ``best``, the trees once into ``best``).

    ``resume=True`` continues the neural run in ``run_dir`` from its last checkpoint (same settings).
    ``stop_after=k`` returns after ``k`` epochs of this call, right after the checkpoint: a test hook
    that stands in for a crash. Deterministic algorithms on CPU during training only; the caller's
    setting is restored.
    """
    if isinstance(model, GBTPowerModel):
        if resume:
            raise InputError("--resume applies to the neural models; the gbt model trains in one go")
        if stop_after is not None:
            raise InputError("stop_after applies to the neural models; the gbt model trains in one go")
        model._fit(ds, progress=progress)
        if run_dir is not None:
            model.save(Path(run_dir) / "best")
        return model
    before = torch.are_deterministic_algorithms_enabled()
    try:
        if resolve_device(model.device).type == "cpu":
            torch.use_deterministic_algorithms(True)
        _train(model, ds, run_dir=run_dir, resume=resume, progress=progress, stop_after=stop_after)
    finally:
        torch.use_deterministic_algorithms(before)
    return model


def _train(model: NeuralPowerModel, ds, *, run_dir: str | Path | None, resume: bool, progress: bool,
           stop_after: int | None) -> None:
    device = resolve_device(model.device)
    run_dir = Path(run_dir) if run_dir is not None else None
    if resume and (run_dir is None or not (run_dir / "last").is_dir()):
        raise InputError("nothing to resume: no last checkpoint", file=str(run_dir))
    model.setup(ds)
    nets, tr, va, es = prepare(model, ds)
    nets = nets.to(device)
    hw, net, y = tr.hw.to(device), tr.net.to(device), tr.y.to(device)
    sel = torch.from_numpy(np.flatnonzero(es))
    es_val = Encoded(va.hw[sel], va.net[sel], va.y[sel])
    if model.uses_roofline and not resume:  # feature scales from a training sample (then saved)
        sample = torch.randperm(len(tr.net), generator=torch.Generator().manual_seed(model.seed))[:4096]
        x, mask, lay, lmask, _ = nets.rows(net[sample.to(device)])
        model.module_.to(device).roof.fit_scale(hw[sample.to(device)], lay, lmask, mask)
    model.module_.to(device)
    opt = torch.optim.AdamW(model.module_.parameters(), lr=model.lr, weight_decay=model.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=model.epochs, eta_min=model.lr * 0.02)
    gen = torch.Generator().manual_seed(model.seed)
    loop: dict[str, Any] = {"epoch": 0, "best": math.inf, "bad": 0, "done": False, "history": []}
    if resume:
        loop = _restore(model, run_dir, opt, sched, gen)
        log.info("resuming after epoch %d", loop["epoch"])
    cols = [model.reported_.index(t) for t in model.targets]
    stream = getattr(ds, "train_stream", None)  # load_processed(..., stream=True): every training row read from Parquet (processing/stream.py)
    n, bs = (len(stream) if stream is not None else len(net)), model.batch_size
    n_batches = math.ceil(n / bs)
    with _progress(progress) as bar:
        task = bar.add_task(f"train {model.arch}", total=model.epochs * n_batches,
                            completed=loop["epoch"] * n_batches, status="")
        epoch = start = loop["epoch"]
        while not loop["done"] and epoch < model.epochs:
            t0, total = time.perf_counter(), 0.0
            model.module_.train()
            batches = (_streamed(model, stream, epoch, nets, device) if stream is not None else
                       ((hw[idx], net[idx], y[idx]) for idx in torch.randperm(n, generator=gen).to(device).split(bs)))
            for b, (hw_b, net_b, y_b) in enumerate(batches):
                pred = model.forward_normalized(hw_b, nets, net_b)[:, cols]  # (B, T)
                loss = ((pred - y_b) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(y_b)
                bar.update(task, advance=1, status=f"epoch {epoch + 1} loss {total / min(n, (b + 1) * bs):.2e}")
            sched.step()
            epoch += 1
            val_loss, val_mape = _val_loss(model, es_val, nets, cols)
            loop["history"].append({"epoch": epoch, "train_loss": total / n, "val_loss": val_loss,
                                    "val_mape_pct": val_mape, "lr": opt.param_groups[0]["lr"],
                                    "seconds": time.perf_counter() - t0})
            bar.update(task, status=f"epoch {epoch} loss {total / n:.2e} val {val_loss:.2e} ({val_mape:.2f}%)")
            loop["epoch"] = epoch
            if val_loss < loop["best"]:
                loop["best"], loop["bad"] = val_loss, 0
                if run_dir is not None:
                    _save(model, run_dir / "best", loop)
                else:
                    loop["best_state"] = {k: v.detach().clone() for k, v in model.module_.state_dict().items()}
            else:
                loop["bad"] += 1
            loop["done"] = loop["bad"] >= model.patience or epoch >= model.epochs
            if run_dir is not None:
                _save(model, run_dir / "last", {k: v for k, v in loop.items() if k != "best_state"}, opt, sched, gen)
            if stop_after is not None and epoch - start >= stop_after and not loop["done"]:
                return  # stands in for a crash after the checkpoint, in tests
    _finish(model, run_dir, loop, device)


def _streamed(model: NeuralPowerModel, stream, epoch: int, nets, device: torch.device):
    """The training rows of a streamed dataset, encoded a batch at a time."""
    cols = model.hw_encoder_.columns + ["network", *model.targets]
    for frame in stream.batches(epoch, model.batch_size):
        e = model.encode_samples(frame[cols], nets, with_targets=True, source="train.parquet", out_of_range="ignore")
        yield e.hw.to(device), e.net.to(device), e.y.to(device)


def _finish(model: NeuralPowerModel, run_dir: Path | None, loop: dict[str, Any], device: torch.device) -> None:
    """Load the best weights, keep the history."""
    if run_dir is not None:
        model.module_.load_state_dict(load_weights(run_dir / "best"))
        write_json_atomic(run_dir / "history.json", loop["history"])
    elif "best_state" in loop:
        model.module_.load_state_dict(loop["best_state"])
    model.module_.to(device)
    model.history_ = loop["history"]
