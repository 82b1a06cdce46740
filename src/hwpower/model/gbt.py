"""The gradient-boosted-trees baseline: LightGBM on per-network aggregate features + hardware.

One booster per trained target, on the natural log of the target (relative error). Boosters are
stored as LightGBM's own text format inside the checkpoint folder, never pickled.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from rich.progress import Progress

from ..errors import CheckpointError, InputError
from .checkpoint import read_meta, save_checkpoint
from .encoding import HardwareEncoder, log_targets
from .modules import ALL_TARGETS, OUTPUT_COLUMNS, reported_targets
from .support import NetworkSupport
from .tables import NetworkTables

log = logging.getLogger(__name__)
NETWORK_FEATURES = ["input_resolution", "n_ops", "n_layers", "macs", "other_ops", "weights", "in_act",
                    "out_act", "depth"]


class GBTPowerModel:
    """LightGBM per target on [hardware (numeric raw, categorical codes), network aggregates]."""

    def __init__(self, targets: tuple[str, ...] = ("P_core", "P_bw", "latency_ms"), n_estimators: int = 2000,
                 learning_rate: float = 0.05, num_leaves: int = 63, min_child_samples: int = 20,
                 early_stopping_rounds: int = 50, seed: int = 0, n_jobs: int = 2):
        self.targets, self.n_estimators, self.learning_rate = tuple(targets), n_estimators, learning_rate
        self.num_leaves, self.min_child_samples, self.early_stopping_rounds = num_leaves, min_child_samples, early_stopping_rounds
        self.seed, self.n_jobs = seed, n_jobs
        self.arch = "gbt"

    def get_params(self) -> dict[str, Any]:
        keys = ("targets", "n_estimators", "learning_rate", "num_leaves", "min_child_samples",
                "early_stopping_rounds", "seed", "n_jobs")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in ((k, getattr(self, k)) for k in keys)}

    def _lgb_params(self) -> dict[str, Any]:
        return {"objective": "regression", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples, "seed": self.seed, "deterministic": True,
                "force_row_wise": True, "num_threads": self.n_jobs, "verbosity": -1}

    def features(self, samples: pd.DataFrame, nets: NetworkTables, *, source: str = "samples",
                 out_of_range: str = "warn") -> pd.DataFrame:
        hw = samples.drop(columns=[c for c in samples.columns if c == "network" or c in OUTPUT_COLUMNS])
        self.hw_encoder_.check(hw, source=source, out_of_range=out_of_range)
        out = hw[[s.name for s in self.hw_encoder_.numeric]].astype(np.float64).reset_index(drop=True)
        for name, cats in self.hw_encoder_.categorical.items():
            out[name] = pd.Categorical(hw[name].astype(str), categories=cats).codes
        agg = nets.networks.set_index("network")
        keys = samples["network"].astype(str)
        unknown = ~keys.isin(agg.index)
        if unknown.any():
            raise InputError(f"network {keys[unknown].iloc[0]!r} is not among the given networks", file=source)
        net = agg.loc[keys.to_numpy(), NETWORK_FEATURES].astype(np.float64).reset_index(drop=True)
        return pd.concat([out, net], axis=1)

    def fit(self, ds) -> GBTPowerModel:
        """Train the boosters in memory and return self. Saving into a run folder and the progress bar
        belong to the training runner: :func:`.training.train`, :func:`.runner.train_model`."""
        return self._fit(ds, progress=False)

    def _fit(self, ds, *, progress: bool) -> GBTPowerModel:
        bad = [t for t in self.targets if t not in ALL_TARGETS]
        if bad or not self.targets:
            raise InputError(f"unknown target(s) {bad}: choose from {list(ALL_TARGETS)}")
        self.reported_ = reported_targets(self.targets)
        self.hw_encoder_ = HardwareEncoder.fit(ds.train, ds.hardware_numeric, ds.hardware_categorical)
        self.support_ = NetworkSupport.fit(ds.ops[ds.ops["network"].isin(set(ds.train["network"]))], seed=self.seed)
        nets = NetworkTables.of(ds)
        cols = self.hw_encoder_.columns + ["network"]
        x_tr = self.features(ds.train[cols], nets, source="train.parquet", out_of_range="ignore")
        seen = ds.val["network"].isin(set(ds.train["network"])).to_numpy()  # early stop on unseen hardware only
        val = ds.val[seen] if seen.any() else ds.val
        x_va = self.features(val[cols], nets, source="val.parquet", out_of_range="ignore")
        y_tr = log_targets(ds.train, list(self.targets), source="train.parquet")
        y_va = log_targets(val, list(self.targets), source="val.parquet")
        self.boosters_: dict[str, lgb.Booster] = {}
        with Progress(disable=not progress) as bar:
            for j, target in enumerate(self.targets):
                task = bar.add_task(f"gbt {target}", total=self.n_estimators)
                train_set = lgb.Dataset(x_tr, y_tr[:, j], free_raw_data=False)
                val_set = lgb.Dataset(x_va, y_va[:, j], reference=train_set)
                self.boosters_[target] = lgb.train(
                    self._lgb_params(), train_set, num_boost_round=self.n_estimators, valid_sets=[val_set],
                    callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                               lambda env, t=task: bar.update(t, completed=env.iteration + 1)])
        self.history_: list[dict[str, Any]] = []
        return self

    def predict(self, samples: pd.DataFrame, nets: NetworkTables, *, out_of_range: str = "warn",
                source: str = "samples", batch_size: int | None = None, compile: bool = False) -> pd.DataFrame:
        """Predictions in physical units (W, ms, mJ), one column per reported target.

        Same keywords as :meth:`.neural.NeuralPowerModel.predict`; ``batch_size`` and ``compile``
        are accepted and ignored (LightGBM predicts all rows at once, with nothing to compile)."""
        x = self.features(samples, nets, source=source, out_of_range=out_of_range)
        cols = {t: np.exp(b.predict(x, num_threads=self.n_jobs)) for t, b in self.boosters_.items()}
        if "P" in self.reported_ and "P" not in cols:
            cols["P"] = cols["P_core"] + cols["P_bw"]
        return pd.DataFrame({t: cols[t] for t in self.reported_}, index=samples.index)

    def config(self) -> dict[str, Any]:
        return {"kind": "gbt", "params": self.get_params(), "reported": self.reported_,
                "encoders": {"hardware": self.hw_encoder_.to_dict()}, "support": self.support_.to_dict(),
                "feature_schema": {"hardware": self.hw_encoder_.columns, "network": NETWORK_FEATURES}}

    def save(self, folder: str | Path) -> None:
        files = {f"gbt_{t}.txt": b.model_to_string() for t, b in self.boosters_.items()}
        save_checkpoint(folder, {}, {"config": self.config(), "files": sorted(files)}, extra_files=files)

    @classmethod
    def from_checkpoint(cls, folder: str | Path, *, device: str = "cpu") -> GBTPowerModel:
        """``device`` is accepted for symmetry with the neural model; the trees always run on CPU."""
        meta = read_meta(folder)
        cfg = meta.get("config")
        if not cfg or cfg.get("kind") != "gbt":
            raise CheckpointError(f"{folder}: not a gradient-boosted-trees checkpoint")
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["params"].items()})
        model.reported_ = cfg["reported"]
        model.hw_encoder_ = HardwareEncoder.from_dict(cfg["encoders"]["hardware"])
        model.support_ = NetworkSupport.from_dict(cfg["support"])
        model.boosters_ = {}
        for t in model.targets:
            path = Path(folder) / f"gbt_{t}.txt"
            if not path.is_file():
                raise CheckpointError(f"{path}: missing booster")
            model.boosters_[t] = lgb.Booster(model_str=path.read_text(encoding="utf-8"))
        return model
