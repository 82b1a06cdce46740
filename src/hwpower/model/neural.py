"""Neural power models (the seed's flat MLP and the structured model) behind one estimator.

``NeuralPowerModel(arch=...)`` follows scikit-learn's pattern: hyperparameters in ``__init__``,
``fit(dataset)`` returns self, learned state in attributes ending in ``_``. Training is
deterministic on CPU and resumable bit for bit from the last checkpoint (see :mod:`.training`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CheckpointError, InputError
from ..processing.opfeatures import NEED_COLUMNS, needs_table
from .checkpoint import load_weights, read_meta
from .encoding import Encoded, ElementEncoder, HardwareEncoder, NetworkBatch, log_targets, resolve_device  # noqa: F401 (re-exported)
from .modules import OUTPUT_COLUMNS, FlatMLP, StructuredNet, reported_targets
from .roofline import NEEDED2, Roofline, block_layer_array, op_layer_array, op_layer_array2
from .support import NetworkSupport
from .tables import NetworkTables
from .training import train

log = logging.getLogger(__name__)
ARCHS = ("structured", "mlp")
ELEMENTS = ("ops", "blocks", "layers")
# Elements (rows x network length) per inference batch when no batch size is given: 1,024 rows of
# 21-block networks, the fastest measured at block level; about 300 rows of OFA networks as operators.
ELEMENTS_PER_BATCH = 1024 * 24


def collapse_ops(ops: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The operators of networks ``keys`` with identical operators of a network as one row (renumbered
    ``op_index`` 0..k-1 in order of first occurrence) and each row's multiplicity."""
    sub = ops[ops["network"].astype(str).isin(keys)]
    features = [c for c in sub.columns if c != "op_index"]
    codes = sub.groupby(features, observed=True, sort=False, dropna=False).ngroup().to_numpy()
    first, counts = np.unique(codes, return_index=True, return_counts=True)[1:]
    order = np.argsort(first, kind="stable")
    kept = sub.iloc[first[order]].copy()
    kept["op_index"] = kept.groupby("network", observed=True, sort=False).cumcount().to_numpy()
    return kept, counts[order]


def _with_needs(ops: pd.DataFrame, networks: pd.DataFrame, keys: list[str], source: str) -> pd.DataFrame:
    """The operators of networks ``keys`` with the fused schedule's residency needs of each occurrence
    (:func:`~hwpower.processing.opfeatures.needs_table`, from the networks' definitions)."""
    sub = ops[ops["network"].astype(str).isin(keys)]
    needs = needs_table(networks, keys).rename(columns={"network": "_key"})
    out = sub.assign(_key=sub["network"].astype(str).to_numpy()).merge(needs, on=["_key", "op_index"], how="left")
    if out[NEED_COLUMNS[0]].isna().any():
        row = out[out[NEED_COLUMNS[0]].isna()].iloc[0]
        raise InputError(f"network {row['network']}: its operators do not match its definition's schedule plan "
                         f"(operator {row['op_index']})", file=source)
    return out.drop(columns="_key")


def _log_counts(table: pd.DataFrame, counts: np.ndarray, keys: list[str], length: int) -> np.ndarray:
    """(N, length) float32 log multiplicity at each element's position, -inf at padding (so the sums
    need no mask)."""
    out = np.full((len(keys), length), -np.inf, dtype=np.float32)
    net = pd.Categorical(table["network"].astype(str), categories=keys).codes
    out[net, table["op_index"].to_numpy()] = np.log(counts)
    return out


def _embed(module: StructuredNet, nets: NetworkBatch) -> torch.Tensor:
    """(N, L, D) element embeddings ``el_in(x)`` of the real elements only (networks are padded to the
    longest, often 2-3x the mean length); zeros at padding, which the mask or the weights drop."""
    x = nets.x.new_zeros(*nets.x.shape[:2], module.film.out_features // 2)
    x[nets.mask] = module.el_in(nets.x[nets.mask])
    return x


def _compiling(run, first) -> None:
    """``run(first)`` with ``torch.compile``'s failures (no C++ compiler, an unsupported platform) as
    one clear error instead of inductor's traceback."""
    # torch.compile's modules take about 1.5 s to import: only when compiling, not for every command
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor.exc import InductorError

    try:
        run(first)
    except (BackendCompilerFailed, InductorError) as err:
        raise InputError(f"compiled inference failed ({type(err).__name__}: {str(err).splitlines()[0]}); it needs "
                         "a C++ compiler for torch.compile's inductor: predict without compiling") from err


def _rows_per_batch(row_len: torch.Tensor, order: torch.Tensor, start: int) -> int:
    """Rows from ``start`` (in length order) that make about ``ELEMENTS_PER_BATCH`` elements."""
    guess = max(1, ELEMENTS_PER_BATCH // int(row_len[order[start]]))
    last = order[min(start + guess, len(order)) - 1]
    return max(1, ELEMENTS_PER_BATCH // int(row_len[last]))


class NeuralPowerModel:
    """Power predictor trained by gradient descent on log targets (relative error).

    ``arch``: ``"structured"`` (per-element energy and time conditioned on the hardware, summed like
    the physics) or ``"mlp"`` (the seed's MLP over hardware + flattened padded block array).
    ``targets``: trained outputs, e.g. ``("P",)`` or ``("P_core", "P_bw")``; ``P`` is then reported
    as ``P_core + P_bw``. ``elements``: ``"ops"`` (operators, the structured model's default: any
    network, block sequence or operator graph, made of operator kinds seen in training), ``"blocks"``
    (the seed MLP's default) or ``"layers"`` (block networks only).
    """

    def __init__(self, arch: str = "structured", targets: tuple[str, ...] = ("P_core", "P_bw", "latency_ms"),
                 elements: str | None = None, hidden: int = 64, depth: int = 2, hw_hidden: int = 64,
                 mlp_hidden: tuple[int, ...] = (256, 256), epochs: int = 30, batch_size: int = 512,
                 lr: float = 2e-3, weight_decay: float = 1e-5, patience: int = 6, seed: int = 0,
                 device: str = "auto", physics: bool = True, head_depth: int | None = None,
                 head_activation: str | None = None, physics_version: int | None = None):
        self.arch, self.targets, self.elements = arch, tuple(targets), elements
        self.hidden, self.depth, self.hw_hidden, self.mlp_hidden = hidden, depth, hw_hidden, tuple(mlp_hidden)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.patience, self.seed, self.device = patience, seed, device
        self.physics, self.head_depth, self.head_activation = physics, head_depth, head_activation
        self.physics_version = physics_version

    def get_params(self) -> dict[str, Any]:
        keys = ("arch", "targets", "elements", "hidden", "depth", "hw_hidden", "mlp_hidden", "epochs",
                "batch_size", "lr", "weight_decay", "patience", "seed", "device", "physics", "head_depth",
                "head_activation", "physics_version")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in ((k, getattr(self, k)) for k in keys)}

    @property
    def element_kind(self) -> str:
        """The elements read: ``elements``, or by default operators (structured) or blocks (mlp)."""
        if self.elements is not None:
            return self.elements
        return "blocks" if self.arch == "mlp" else "ops"

    @property
    def head_layers(self) -> int:
        """Layers of the structured model after the hardware conditioning: ``head_depth``, or by default
        none for operators (their ``depth`` layers encode each operator once per network, so a
        prediction costs little per operator) and all ``depth`` for blocks."""
        if self.head_depth is not None:
            return self.head_depth
        return 0 if self.element_kind == "ops" else self.depth

    @property
    def head_act(self) -> str:
        """Activation after the hardware conditioning: ``head_activation``, or by default relu for
        operators (per row and operator, gelu's erf was most of the inference time) and gelu for blocks."""
        if self.head_activation is not None:
            return self.head_activation
        return "relu" if self.element_kind == "ops" else "gelu"

    # --- set-up -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.arch not in ARCHS:
            raise InputError(f"unknown model {self.arch!r} (known: {list(ARCHS)} and gbt)")
        if self.element_kind not in ELEMENTS:
            raise InputError(f"elements must be one of {list(ELEMENTS)}, got {self.elements!r}")
        if self.head_activation not in (None, "gelu", "relu"):
            raise InputError(f"head_activation must be gelu or relu, got {self.head_activation!r}")
        if self.arch == "structured" and self.physics and self.element_kind == "layers":
            raise InputError("the roofline features work on operators or blocks: use elements='ops' or 'blocks', "
                             "or physics=False")
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
        roof = Roofline(self.hw_encoder_, self.physics_version_) if self.uses_roofline else None
        return StructuredNet(n_hw, n_el, self.reported_, self.hidden, self.depth, self.hw_hidden, self.init_log_, roof,
                             self.head_layers, self.head_act)

    @property
    def uses_roofline(self) -> bool:
        return self.arch == "structured" and self.physics

    def _check_elements(self, table: pd.DataFrame, train_keys: list[str]) -> None:
        """Every training network must have the elements the model reads: graph networks (operator
        graphs: imported models, the resnet/transformer/mixed spaces) have operators only."""
        missing = sorted(set(train_keys) - set(table["network"].astype(str).unique()))
        if missing:
            fix = ("use --elements ops (the MLP then reads the padded operator sequence) or the structured model"
                   if self.arch == "mlp" else "use --elements ops")
            raise InputError(f"{len(missing)} of {len(train_keys)} training networks (e.g. {missing[0]}) have no "
                             f"{self.element_kind}: graph networks are made of operators only; {fix}",
                             file="processed dataset")

    def _physics_version(self) -> int:
        """The roofline features used: 2 (oracle 2.0's per-operator model with the fused schedule's
        residency) for operators when the hardware has the columns it needs, else 1 (the first-order
        roofline); ``physics_version`` chooses; blocks always use 1."""
        if self.element_kind != "ops":
            return 1
        names = {s.name for s in self.hw_encoder_.numeric}
        lacking = [c for c in NEEDED2 if c not in names]
        if self.physics_version is not None:
            if self.physics_version not in (1, 2):
                raise InputError(f"physics_version must be 1 or 2, got {self.physics_version!r}")
            if self.physics_version == 2 and lacking and self.uses_roofline:
                raise InputError(f"physics version 2 needs the hardware column(s) {lacking}; use physics_version=1")
            return self.physics_version
        if lacking and self.uses_roofline:
            log.warning("physics features version 1 (first-order roofline): the hardware lacks %s", lacking)
        return 1 if lacking else 2

    def setup(self, ds) -> None:
        """Fit the encoders on the training split and build the (untrained) network."""
        self._check_params()
        torch.manual_seed(self.seed)
        self.reported_ = reported_targets(self.targets)
        self.hw_encoder_ = HardwareEncoder.fit(ds.train, ds.hardware_numeric, ds.hardware_categorical)
        train_keys = sorted(ds.train["network"].unique())
        table = getattr(ds, self.element_kind)
        self._check_elements(table, train_keys)
        self.element_encoder_ = ElementEncoder.fit(table[table["network"].isin(train_keys)], self.element_kind)
        lengths = table[table["network"].isin(train_keys)].groupby("network").size()
        self.max_len_ = int(lengths.max())
        self.init_log_ = self._init_log(ds.train, float(lengths.mean()))
        self.support_ = NetworkSupport.fit(ds.ops[ds.ops["network"].isin(train_keys)], seed=self.seed)
        self.physics_version_ = self._physics_version()
        self.module_ = self._build()

    # --- encoding -----------------------------------------------------------------------------
    def encode_networks(self, nets: NetworkTables, keys: list[str] | None = None, *, source: str = "networks") -> NetworkBatch:
        table = getattr(nets, self.element_kind)
        keys = sorted(table["network"].unique()) if keys is None else list(keys)
        counts = None
        if self.element_kind == "ops" and self.uses_roofline and self.physics_version_ == 2:
            table = _with_needs(table, nets.networks, keys, source)
        if self.element_kind == "ops" and self.arch == "structured":  # sums ignore order: identical operators once
            table, counts = collapse_ops(table, keys)
        x, mask = self.element_encoder_.encode(table, keys, source=source)
        lw = None if counts is None else torch.from_numpy(_log_counts(table, counts, keys, x.shape[1]))
        if self.arch == "mlp" and x.shape[1] > self.max_len_:
            lengths = mask.sum(axis=1)
            bad = keys[int(np.argmax(lengths))]
            raise InputError(f"network {bad} has {int(lengths.max())} {self.element_kind}; the flat MLP was trained on at "
                             f"most {self.max_len_} (use the structured model for deeper networks)", file=source)
        if not self.uses_roofline:
            return NetworkBatch(keys, torch.from_numpy(x), torch.from_numpy(mask), lw=lw)
        if self.element_kind == "ops":
            make = op_layer_array2 if self.physics_version_ == 2 else op_layer_array
            lay, lmask = make(table, keys, x.shape[1])
        else:
            lay, lmask = block_layer_array(nets.layers, keys, x.shape[1])
        return NetworkBatch(keys, torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(lay),
                            None if lmask is None else torch.from_numpy(lmask), lw)

    def encode_samples(self, frame: pd.DataFrame, nets: NetworkBatch, *, with_targets: bool,
                       source: str = "samples", out_of_range: str = "warn") -> Encoded:
        hw_cols = frame.drop(columns=[c for c in frame.columns if c == "network" or c in OUTPUT_COLUMNS])
        hw = torch.from_numpy(self.hw_encoder_.encode(hw_cols, source=source, out_of_range=out_of_range))
        y = torch.from_numpy(log_targets(frame, list(self.targets), source=source)) if with_targets else None
        return Encoded(hw, nets.lookup(frame["network"], source=source), y)

    # --- inference ----------------------------------------------------------------------------
    def forward_normalized(self, hw_norm: torch.Tensor, nets: NetworkBatch, net_index: torch.Tensor) -> torch.Tensor:
        """Differentiable: normalised hardware (B, H) and network rows (B,) -> log reported targets (B, R).

        With the element encoder frozen (the search sets ``requires_grad_(False)``), the elements'
        embedding is computed once per network batch and reused by every call (a search calls this
        hundreds of times on the same networks); gradients still flow to the hardware."""
        module = self.module_
        if isinstance(module, StructuredNet) and not any(p.requires_grad for p in module.el_in.parameters()):
            _, mask, lay, lmask, lw = nets.rows(net_index)
            x = self._frozen_embedding(nets).index_select(0, net_index)  # (B, L, D)
            return module(hw_norm, x, mask, lay, lmask, lw, embedded=True)
        return module(hw_norm, *nets.rows(net_index))

    def _frozen_embedding(self, nets: NetworkBatch) -> torch.Tensor:
        """``el_in`` of the networks' real elements, (N, L, D); kept for the last network batch and module
        seen (a refit builds a new module: its embedding is made again)."""
        cached = getattr(self, "_embedding", None)
        if cached is None or cached[0] is not nets.x or cached[1] is not self.module_:
            with torch.no_grad():
                self._embedding = (nets.x, self.module_, _embed(self.module_, nets))
        return self._embedding[2]

    def predict_log(self, enc: Encoded, nets: NetworkBatch, *, batch_size: int | None = None,
                    compile: bool = False) -> np.ndarray:
        """(n, R) natural-log predictions, batched, without gradients.

        Rows go in order of their network's length, so a batch of short networks is not padded to the
        longest network given; ``batch_size`` rows per batch, or by default as many as keep a batch
        near ``ELEMENTS_PER_BATCH`` elements (its temporaries then stay in cache).

        ``compile``: run the module through ``torch.compile`` (inductor fuses the per-(row, element)
        arithmetic into a few loops: about 1.5x faster on CPU), for large batches and search loops;
        the first call compiles (10-20 s, then cached on disk), and it needs a C++ compiler."""
        device = next(self.module_.parameters()).device
        nets = nets.to(device)
        self.module_.eval()
        module = self._compiled_module() if compile else self.module_
        n = len(enc.net)
        out = torch.empty((n, len(self.reported_)), dtype=torch.float32)
        structured = isinstance(self.module_, StructuredNet)
        row_len = nets.lengths().cpu().clamp_min(1)[enc.net]
        order = torch.argsort(row_len, stable=True)
        batches, i = [], 0
        while i < n:
            step = batch_size or _rows_per_batch(row_len, order, i)
            batches.append(order[i:i + step])
            i += step
        with torch.inference_mode():
            if structured:  # the element embedding depends on the network only: once per network, not per row
                nets = nets.replace_x(_embed(self.module_, nets))

        def run(idx: torch.Tensor) -> None:
            with torch.inference_mode():
                net, hw = enc.net[idx].to(device), enc.hw[idx].to(device)
                if structured:
                    y = module(hw, *nets.rows(net, int(row_len[idx].max())), embedded=True)
                else:
                    y = module(hw, *nets.rows(net))
                out[idx] = y.float().cpu()

        if compile:  # compile on the first batch, with its failures as one clear error
            _compiling(run, batches[0])
            batches = batches[1:]
        for idx in batches:
            run(idx)
        return out.numpy()

    def _compiled_module(self) -> torch.nn.Module:
        """The module through ``torch.compile`` (dynamic shapes: batches differ in rows and length),
        made once per module (a refit builds a new one); never saved."""
        cached = getattr(self, "_compiled", None)
        if cached is None or cached[0] is not self.module_:
            self._compiled = (self.module_, torch.compile(self.module_, dynamic=True))
        return self._compiled[1]

    def predict(self, samples: pd.DataFrame, nets: NetworkTables, *, out_of_range: str = "warn",
                source: str = "samples", batch_size: int | None = None, compile: bool = False) -> pd.DataFrame:
        """Predictions in physical units (W, ms, mJ), one column per reported target."""
        batch = self.encode_networks(nets, sorted(samples["network"].astype(str).unique()), source=source)
        enc = self.encode_samples(samples, batch, with_targets=False, source=source, out_of_range=out_of_range)
        log = self.predict_log(enc, batch, batch_size=batch_size, compile=compile)
        return pd.DataFrame(np.exp(log.astype(np.float64)),
                            columns=self.reported_, index=samples.index)

    # --- training and persistence (implemented in .training) -------------------------------------
    def fit(self, ds) -> NeuralPowerModel:
        """Train in memory (no checkpoints, no progress bar) and return self. Run folders, resuming and
        progress belong to the training runner: :func:`.training.train`, :func:`.runner.train_model`."""
        return train(self, ds, progress=False)

    def config(self) -> dict[str, Any]:
        return {"kind": "neural", "params": self.get_params(), "reported": self.reported_,
                "encoders": {"hardware": self.hw_encoder_.to_dict(), "elements": self.element_encoder_.to_dict()},
                "feature_schema": {"hardware": self.hw_encoder_.feature_names,
                                   "elements": self.element_encoder_.feature_names, "max_len": self.max_len_},
                "init_log": self.init_log_, "support": self.support_.to_dict(),
                "physics_version": self.physics_version_}

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
        model.support_ = NetworkSupport.from_dict(cfg["support"])
        model.physics_version_ = cfg.get("physics_version", 1)  # runs saved before version 2 existed
        model.module_ = model._build()
        try:
            model.module_.load_state_dict(load_weights(folder))
        except RuntimeError as exc:
            raise CheckpointError(f"{folder}: weights do not match the model configuration ({exc})") from None
        model.module_.to(resolve_device(device))
        return model

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module_.parameters())
