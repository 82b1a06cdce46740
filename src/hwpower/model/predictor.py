"""The trained predictor as others use it: load a run, predict in watts (and ms, mJ), or call the
differentiable entry point from the hardware search.

>>> p = Predictor.load("runs/structured")
>>> p.predict(samples, nets)              # DataFrame: P, P_core, P_bw [W], latency_ms, ...
>>> batch = p.encode_networks([net_a, net_b])
>>> p.forward_normalized(hw_norm, batch, torch.tensor([0, 1]))   # (B, R) natural-log outputs
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CheckpointError, InputError
from ..networks import GraphNetwork, Network
from .bounds import check_physical
from .checkpoint import read_meta
from .correction import Correction, load_correction
from .encoding import HardwareEncoder, NetworkBatch
from .gbt import GBTPowerModel
from .neural import NeuralPowerModel
from .support import operator_namer
from .tables import NetworkTables
from .uncertainty import Calibration, load_calibration

log = logging.getLogger(__name__)
MODELS = ("structured", "mlp", "gbt")


def model_params(model: str) -> tuple[str, ...]:
    """The hyperparameters ``make_model(model, ...)`` takes (the estimator's ``__init__`` arguments)."""
    if model == "gbt":
        cls, skip = GBTPowerModel, ()
    elif model in ("structured", "mlp"):
        cls, skip = NeuralPowerModel, ("arch",)  # the model name is the architecture
    else:
        raise InputError(f"unknown model {model!r} (known: {list(MODELS)})")
    return tuple(p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *skip))


def make_model(model: str, **params: Any) -> NeuralPowerModel | GBTPowerModel:
    """A fresh estimator of kind ``model`` (structured, mlp or gbt); a parameter the estimator does
    not take (e.g. ``epochs`` for the trees) is an error, never dropped."""
    known = model_params(model)
    unknown = sorted(k for k in params if k not in known)
    if unknown:
        raise InputError(f"unknown parameter(s) {unknown} for the {model} model (known: {list(known)})")
    if model == "gbt":
        return GBTPowerModel(**params)
    return NeuralPowerModel(arch=model, **params)


def as_tables(nets: Any) -> NetworkTables:
    """Networks as tables: NetworkTables, a processed dataset, {key: Network} or [Network, ...]."""
    if isinstance(nets, NetworkTables):
        return nets
    if hasattr(nets, "networks") and hasattr(nets, "blocks"):
        return NetworkTables.of(nets)
    if isinstance(nets, Mapping):
        return NetworkTables.from_networks({str(k): v for k, v in nets.items()})
    if isinstance(nets, Sequence) and all(isinstance(n, Network | GraphNetwork) for n in nets):
        return NetworkTables.from_networks({f"net/{i}": n for i, n in enumerate(nets)})
    raise InputError(f"cannot read networks from a {type(nets).__name__}")


class Predictor:
    """A trained model (structured, mlp or gbt) with its encoders; predictions in physical units."""

    def __init__(self, model: NeuralPowerModel | GBTPowerModel, *, calibration: Calibration | None = None,
                 correction: Correction | None = None):
        self.model = model
        self.calibration = calibration  # prediction intervals (.uncertainty); None: the run has none
        self.correction = correction  # few-shot adaptation to a new truth (.adapt); None: the source model

    def with_correction(self, correction: Correction | None, calibration: Calibration | None = None) -> Predictor:
        """The same model with another output correction (and calibration)."""
        return Predictor(self.model, calibration=calibration, correction=correction)

    @classmethod
    def load(cls, run_dir: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> Predictor:
        """Load ``RUN_DIR/best`` (or ``last``), or a checkpoint folder itself; safe loading only."""
        folder = Path(run_dir)
        if not (folder / "meta.json").is_file():
            folder = folder / checkpoint
        if not folder.is_dir():
            raise CheckpointError(f"{run_dir}: no checkpoint (expected {folder})")
        kind = read_meta(folder).get("config", {}).get("kind")
        if kind not in ("gbt", "neural"):
            raise CheckpointError(f"{folder}: unknown model kind {kind!r}")
        model = (GBTPowerModel.from_checkpoint(folder) if kind == "gbt"
                 else NeuralPowerModel.from_checkpoint(folder, device=device))
        run = folder.parent  # the run folder holds the calibration and an adaptation's correction
        return cls(model, calibration=load_calibration(run), correction=load_correction(run))

    @property
    def name(self) -> str:
        return self.model.arch

    @property
    def targets(self) -> list[str]:
        """Names of the outputs, in the order of :meth:`forward_normalized`'s columns."""
        return list(self.model.reported_)

    @property
    def hw_encoder(self) -> HardwareEncoder:
        return self.model.hw_encoder_

    def bounds(self) -> dict[str, Any]:
        """Trained range and grid of each numeric hardware parameter (raw and normalised)."""
        return self.hw_encoder.bounds()

    def _neural(self) -> NeuralPowerModel:
        if not isinstance(self.model, NeuralPowerModel):
            raise InputError(f"the {self.name} model is not differentiable; use a structured or mlp run")
        return self.model

    def encode_networks(self, nets: Any) -> NetworkBatch:
        """Encode networks once: row i of the batch is the i-th network given (or the sorted keys)."""
        tables = as_tables(nets)
        keys = list(tables.networks["network"].astype(str))
        model = self._neural()
        self.check_networks(tables, keys, out_of_range="warn", source="networks")
        return model.encode_networks(tables, keys)

    def forward_normalized(self, hw_norm: torch.Tensor, nets: NetworkBatch, net_index: torch.Tensor) -> torch.Tensor:
        """Differentiable: (B, H) normalised hardware, (B,) rows of ``nets`` -> (B, R) natural-log outputs."""
        model = self._neural()
        device = next(model.module_.parameters()).device
        hw_norm = hw_norm.to(device)
        out = model.forward_normalized(hw_norm, nets.to(device), net_index.to(device))
        return out if self.correction is None else self.correction.apply_log(out, hw_norm)

    def modules_for_search(self) -> list[torch.nn.Module]:
        return [self._neural().module_]

    def check_networks(self, tables: NetworkTables, keys: list[str], *, out_of_range: str = "warn",
                       source: str = "networks") -> list[str]:
        """The networks' operators against the training data's support (:mod:`.support`): an unseen
        kind raises; features outside the trained range or far from every training operator warn
        (raise with ``out_of_range="error"``); returns the warnings' texts."""
        ops = tables.ops[tables.ops["network"].astype(str).isin(keys)]
        return self.model.support_.check(ops, policy=out_of_range, source=source,
                                         names=operator_namer(tables.networks))

    def predict(self, samples: pd.DataFrame, nets: Any, *, out_of_range: str = "warn", source: str = "samples",
                batch_size: int | None = None, interval: float | None = None, raw: bool = False,
                compile: bool = False) -> pd.DataFrame:
        """Hardware rows with a ``network`` key -> DataFrame of predictions (W, ms, mJ), same index.

        Every network is checked against the training data (:meth:`check_networks`) and every
        prediction against physical bounds (:mod:`.bounds`): a non-finite one raises, an implausible
        one warns (raises with ``out_of_range="error"``). ``batch_size``: rows per inference batch (an
        inference setting; by default about 24,576 network elements per batch); ``compile``: through
        ``torch.compile`` (about 1.5-2.5x faster on CPU after 5-20 s of compiling: for large tables and
        loops; the neural model only). ``interval`` (e.g.
        0.9): add ``{target}_lo`` / ``{target}_hi`` and ``rel_halfwidth`` (:mod:`.uncertainty`).
        ``raw``: the source model's outputs, without an adaptation's correction."""
        if "network" not in samples.columns:
            raise InputError("no 'network' column naming each row's network", file=source)
        tables = as_tables(nets)
        keys = samples["network"].astype(str)
        self.check_networks(tables, sorted(keys.unique()), out_of_range=out_of_range, source=source)
        pred = self.model.predict(samples, tables, out_of_range=out_of_range, source=source, batch_size=batch_size,
                                  compile=compile)
        if self.correction is not None and not raw:
            hw = (self.hw_encoder.encode(samples[self.hw_encoder.columns], source=source, out_of_range="ignore")
                  if self.correction.uses_hardware else None)
            pred = self.correction.apply_frame(pred, hw)
        macs = tables.networks.assign(network=tables.networks["network"].astype(str)).set_index("network")["macs"]
        check_physical(pred, samples, keys.reset_index(drop=True), macs.reindex(keys.to_numpy()).to_numpy(np.float64),
                       policy=out_of_range, source=source)
        if interval is None:
            return pred
        if self.calibration is None:
            raise InputError("this run has no interval calibration (calibration.json); retrain it with this hwpower",
                             where="interval")
        return pd.concat([pred, self.calibration.interval(pred, interval)], axis=1)

    def predict_one(self, network: Network | GraphNetwork, hardware: Mapping[str, Any], *,
                    out_of_range: str = "warn", key: str = "net/0", interval: float | None = None) -> dict[str, float]:
        """One network on one hardware configuration -> {target: value} (with ``interval``, also the
        ``_lo`` / ``_hi`` bounds and ``rel_halfwidth``); ``key`` names the network in messages."""
        row = pd.DataFrame([{**hardware, "network": key}])
        return {k: float(v) for k, v in self.predict(row, {key: network}, out_of_range=out_of_range,
                                                     source="hardware", interval=interval).iloc[0].items()}
