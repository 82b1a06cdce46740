"""Neural power models (the seed's flat MLP and the structured model) behind one estimator.

``NeuralPowerModel(arch=...)`` follows scikit-learn's pattern: hyperparameters in ``__init__``,
``fit(dataset)`` returns self, learned state in attributes ending in ``_``. Training is
deterministic on CPU and resumable bit for bit from the last checkpoint (see :mod:`.training`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CheckpointError, InputError
from .checkpoint import load_weights, read_meta
from .encoding import ElementEncoder, HardwareEncoder, NetworkBatch
from .modules import ALL_TARGETS, FlatMLP, StructuredNet, reported_targets
from .roofline import Roofline, block_layer_array
from .tables import NetworkTables

log = logging.getLogger(__name__)
ARCHS = ("structured", "mlp")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r} (auto, cpu or cuda)")
    return torch.device(device)


def log_targets(frame: pd.DataFrame, targets: list[str], *, source: str) -> np.ndarray:
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise InputError(f"target column(s) {missing} missing", file=source)
    y = frame[targets].to_numpy(dtype=np.float64)
    if not np.isfinite(y).all() or (y <= 0).any():
        row, col = np.argwhere(~np.isfinite(y) | (y <= 0))[0]
        raise InputError(f"{targets[col]}={y[row, col]} must be a positive number", file=source, where=f"row {row}")
    return np.log(y).astype(np.float32)


@dataclass
class Encoded:
    """Samples ready for the model: normalised hardware, network row index, log targets."""

    hw: torch.Tensor  # (n, H)
    net: torch.Tensor  # (n,) int64 into NetworkBatch.x
    y: torch.Tensor | None  # (n, T) natural-log trained targets


class NeuralPowerModel:
    """Power predictor trained by gradient descent on log targets (relative error).

    ``arch``: ``"structured"`` (per-element energy and time conditioned on the hardware, summed like
    the physics) or ``"mlp"`` (the seed's MLP over hardware + flattened padded block array).
    ``targets``: trained outputs, e.g. ``("P",)`` or ``("P_core", "P_bw")``; ``P`` is then reported
    as ``P_core + P_bw``. ``elements``: ``"blocks"`` or ``"layers"`` of the networks.
    """

    def __init__(self, arch: str = "structured", targets: tuple[str, ...] = ("P_core", "P_bw", "latency_ms"),
                 elements: str = "blocks", hidden: int = 64, depth: int = 2, hw_hidden: int = 64,
                 mlp_hidden: tuple[int, ...] = (256, 256), epochs: int = 30, batch_size: int = 512,
                 lr: float = 2e-3, weight_decay: float = 1e-5, patience: int = 6, seed: int = 0,
                 device: str = "auto", eval_batch_size: int = 1024, physics: bool = True):
        self.arch, self.targets, self.elements = arch, tuple(targets), elements
        self.hidden, self.depth, self.hw_hidden, self.mlp_hidden = hidden, depth, hw_hidden, tuple(mlp_hidden)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.seed, self.device, self.eval_batch_size = patience, seed, device, eval_batch_size
        self.physics = physics

    def get_params(self) -> dict[str, Any]:
        keys = ("arch", "targets", "elements", "hidden", "depth", "hw_hidden", "mlp_hidden", "epochs",
                "batch_size", "lr", "weight_decay", "patience", "seed", "device", "eval_batch_size", "physics")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in ((k, getattr(self, k)) for k in keys)}

    # --- set-up -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.arch not in ARCHS:
            raise InputError(f"unknown model {self.arch!r} (known: {list(ARCHS)} and gbt)")
        if self.elements not in ("blocks", "layers"):
            raise InputError(f"elements must be blocks or layers, got {self.elements!r}")
        if self.arch == "structured" and self.physics and self.elements != "blocks":
            raise InputError("the roofline features work on blocks: use elements='blocks' or physics=False")
        bad = [t for t in self.targets if t not in ("P", "P_core", "P_bw", "latency_ms", "energy_mj")]
        if bad or not self.targets:
            raise InputError(f"unknown target(s) {bad}: choose from P, P_core, P_bw, latency_ms, energy_mj")

    def _init_log(self, train: pd.DataFrame, n_elements: float) -> dict[str, float]:
        """Starting biases so the untrained model predicts typical magnitudes (trains faster)."""
        med = {c: float(np.median(train[c])) for c in ("P", "P_core", "P_bw", "latency_ms", "energy_mj") if c in train}
        p_core = med.get("P_core", med.get("P", 1.0) / 2)
        p_bw = med.get("P_bw", med.get("P", 1.0) / 2)
        t = med.get("latency_ms", 1.0)
        out = {k: float(np.log(v)) for k, v in med.items()}
        out.update(t=float(np.log(t / n_elements)), e_core=float(np.log(0.8 * p_core * t / n_elements)),
                   e_bw=float(np.log(0.8 * p_bw * t / n_elements)), static_core=float(np.log(0.2 * p_core)),
                   static_bw=float(np.log(0.2 * p_bw)))
        return out

    def _build(self) -> torch.nn.Module:
        n_hw, n_el = self.hw_encoder_.width, self.element_encoder_.width
        if self.arch == "mlp":
            return FlatMLP(n_hw, n_el, self.max_len_, self.reported_, list(self.mlp_hidden), self.init_log_)
        roof = Roofline(self.hw_encoder_) if self.uses_roofline else None
        return StructuredNet(n_hw, n_el, self.reported_, self.hidden, self.depth, self.hw_hidden, self.init_log_, roof)

    @property
    def uses_roofline(self) -> bool:
        return self.arch == "structured" and self.physics

    def setup(self, ds) -> None:
        """Fit the encoders on the training split and build the (untrained) network."""
        self._check_params()
        torch.manual_seed(self.seed)
        self.reported_ = reported_targets(self.targets)
        self.hw_encoder_ = HardwareEncoder.fit(ds.train, ds.hardware_numeric, ds.hardware_categorical)
        train_keys = sorted(ds.train["network"].unique())
        table = getattr(ds, self.elements)
        self.element_encoder_ = ElementEncoder.fit(table[table["network"].isin(train_keys)], self.elements)
        lengths = table[table["network"].isin(train_keys)].groupby("network").size()
        self.max_len_ = int(lengths.max())
        self.init_log_ = self._init_log(ds.train, float(lengths.mean()))
        self.module_ = self._build()

    # --- encoding -----------------------------------------------------------------------------
    def encode_networks(self, nets: NetworkTables, keys: list[str] | None = None, *, source: str = "networks") -> NetworkBatch:
        table = getattr(nets, self.elements)
        keys = sorted(table["network"].unique()) if keys is None else list(keys)
        x, mask = self.element_encoder_.encode(table, keys, source=source)
        if self.arch == "mlp" and x.shape[1] > self.max_len_:
            lengths = mask.sum(axis=1)
            bad = keys[int(np.argmax(lengths))]
            raise InputError(f"network {bad} has {int(lengths.max())} {self.elements}; the flat MLP was trained on at "
                             f"most {self.max_len_} (use the structured model for deeper networks)", file=source)
        if not self.uses_roofline:
            return NetworkBatch(keys, torch.from_numpy(x), torch.from_numpy(mask))
        lay, lmask = block_layer_array(nets.layers, keys, x.shape[1])
        return NetworkBatch(keys, torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(lay), torch.from_numpy(lmask))

    def encode_samples(self, frame: pd.DataFrame, nets: NetworkBatch, *, with_targets: bool,
                       source: str = "samples", out_of_range: str = "warn") -> Encoded:
        hw_cols = frame.drop(columns=[c for c in frame.columns if c == "network" or c in ALL_TARGETS])
        hw = torch.from_numpy(self.hw_encoder_.encode(hw_cols, source=source, out_of_range=out_of_range))
        y = torch.from_numpy(log_targets(frame, list(self.targets), source=source)) if with_targets else None
        return Encoded(hw, nets.lookup(frame["network"], source=source), y)

    # --- inference ----------------------------------------------------------------------------
    def forward_normalized(self, hw_norm: torch.Tensor, nets: NetworkBatch, net_index: torch.Tensor) -> torch.Tensor:
        """Differentiable: normalised hardware (B, H) and network rows (B,) -> log reported targets (B, R)."""
        return self.module_(hw_norm, *nets.rows(net_index))

    def predict_log(self, enc: Encoded, nets: NetworkBatch) -> np.ndarray:
        """(n, R) natural-log predictions, batched, without gradients."""
        device = next(self.module_.parameters()).device
        nets = nets.to(device)
        self.module_.eval()
        outs = []
        with torch.inference_mode():
            structured = isinstance(self.module_, StructuredNet)
            if structured:  # the block embedding depends on the network only: once per network, not per row
                nets = NetworkBatch(nets.keys, self.module_.el_in(nets.x), nets.mask, nets.lay, nets.lmask)
            for i in range(0, len(enc.net), self.eval_batch_size):
                hw = enc.hw[i:i + self.eval_batch_size].to(device)
                rows = nets.rows(enc.net[i:i + self.eval_batch_size].to(device))
                outs.append((self.module_(hw, *rows, embedded=True) if structured else self.module_(hw, *rows)).cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0, len(self.reported_)), dtype=np.float32)

    def predict(self, samples: pd.DataFrame, nets: NetworkTables, *, out_of_range: str = "warn",
                source: str = "samples") -> pd.DataFrame:
        """Predictions in physical units (W, ms, mJ), one column per reported target."""
        batch = self.encode_networks(nets, sorted(samples["network"].astype(str).unique()), source=source)
        enc = self.encode_samples(samples, batch, with_targets=False, source=source, out_of_range=out_of_range)
        return pd.DataFrame(np.exp(self.predict_log(enc, batch).astype(np.float64)), columns=self.reported_,
                            index=samples.index)

    # --- training and persistence (implemented in .training) -------------------------------------
    def fit(self, ds, *, run_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
            stop_after: int | None = None) -> NeuralPowerModel:
        from .training import train

        train(self, ds, run_dir=run_dir, resume=resume, progress=progress, stop_after=stop_after)
        return self

    def config(self) -> dict[str, Any]:
        return {"kind": "neural", "params": self.get_params(), "reported": self.reported_,
                "encoders": {"hardware": self.hw_encoder_.to_dict(), "elements": self.element_encoder_.to_dict()},
                "feature_schema": {"hardware": self.hw_encoder_.feature_names,
                                   "elements": self.element_encoder_.feature_names, "max_len": self.max_len_},
                "init_log": self.init_log_}

    @classmethod
    def from_checkpoint(cls, folder: str | Path, *, device: str = "cpu") -> NeuralPowerModel:
        meta = read_meta(folder)
        cfg = meta.get("config")
        if not cfg or cfg.get("kind") != "neural":
            raise CheckpointError(f"{folder}: not a neural-model checkpoint")
        params = {**cfg["params"], "device": device}
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        model.reported_ = cfg["reported"]
        model.hw_encoder_ = HardwareEncoder.from_dict(cfg["encoders"]["hardware"])
        model.element_encoder_ = ElementEncoder.from_dict(cfg["encoders"]["elements"])
        model.max_len_, model.init_log_ = cfg["feature_schema"]["max_len"], cfg["init_log"]
        model.module_ = model._build()
        try:
            model.module_.load_state_dict(load_weights(folder))
        except RuntimeError as exc:
            raise CheckpointError(f"{folder}: weights do not match the model configuration ({exc})") from None
        model.module_.to(resolve_device(device))
        return model

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module_.parameters())
