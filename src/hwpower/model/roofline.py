"""Roofline features of each (hardware configuration, element) pair, differentiable in the hardware;
an element is an operator (one "layer") or a block (its layers summed).

Published first-order physics (docs/predictor.md, reference/energy-constants.md): per layer,
compute time = MACs / (rows x cols x U x f) with the spatial utilisation U of the dataflow's
mapping (weight stationary: reduction x output channels on rows x columns; output stationary:
output pixels x output channels), DRAM time = bytes / bandwidth, buffer time = words / (rows + cols)
/ f; a layer takes the slowest of them. Summed per block and log-scaled, they give the structured
model the shape of the latency surface (the ceil steps of the utilisation) that a small MLP would
otherwise need many samples to learn; the model still learns every energy and the corrections.

The hardware enters in the model's normalised space and is decoded here with torch, so the search
can differentiate through it; ceilings use a straight-through gradient (value of the ceiling,
gradient of its argument).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import InputError
from ..networks.ops import KIND_NAMES
from ..oracle.cost import MEMORY_KINDS, VECTOR_KINDS
from ..processing.opfeatures import NEED_COLUMNS
from .encoding import HardwareEncoder

NEEDED = ("pe_rows", "pe_cols", "freq_mhz", "dram_gbps")
LAYER_RAW = ["macs", "other_ops", "weights", "in_act", "out_act", "d1_ws", "d2_ws", "d1_os", "d2_os"]
N_FEATURES = 6
EPS = 1e-9  # 1 ns floor: blocks without MACs (pooling) stay finite and close to the rest


def layer_raw(layers: pd.DataFrame) -> np.ndarray:
    """Per-layer raw quantities (L, 9): counts and the two mappings' spatial dimensions."""
    g = np.maximum(layers["groups"].to_numpy(dtype=np.float64), 1)
    cg = layers["in_channels"].to_numpy(dtype=np.float64) / g
    kg = layers["out_channels"].to_numpy(dtype=np.float64) / g
    k2 = layers["kernel"].to_numpy(dtype=np.float64) ** 2
    pq = layers["out_size"].to_numpy(dtype=np.float64) ** 2
    cols = [layers[c].to_numpy(dtype=np.float64) for c in LAYER_RAW[:5]]
    return np.stack([*cols, cg * k2, kg, pq, g * kg], axis=1)


def block_layer_array(layers: pd.DataFrame, keys: list[str], n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, n_blocks, M, 9) raw layer quantities grouped by block, and the (N, n_blocks, M) mask."""
    sub = layers[layers["network"].astype(str).isin(keys)].sort_values(["network", "layer_index"], kind="stable")
    net = pd.Categorical(sub["network"].astype(str), categories=keys).codes
    blk = sub["block_index"].to_numpy()
    pos = sub.groupby(["network", "block_index"], sort=False, observed=True).cumcount().to_numpy()
    m = int(pos.max()) + 1 if len(pos) else 1
    out = np.zeros((len(keys), n_blocks, m, len(LAYER_RAW)), dtype=np.float32)
    mask = np.zeros((len(keys), n_blocks, m), dtype=bool)
    out[net, blk, pos] = layer_raw(sub)
    mask[net, blk, pos] = True
    return out, mask


OP_RAW = ["macs", "other_ops", "words", "d1_ws", "d2_ws", "d1_os", "d2_os"]


def op_layer_array(ops: pd.DataFrame, keys: list[str], length: int) -> tuple[np.ndarray, None]:
    """(N, 7, length) hardware-independent quantities of each operator: MACs, other operations, the
    words the oracle moves (w + i + o) and the two mappings' spatial dimensions from the operator's
    loop nest (weight stationary: reduction x output channels; output stationary: positions x G*kout;
    at least 1, padding included). Operators are single elements: no per-element layer mask."""
    sub = ops[ops["network"].astype(str).isin(keys)]
    net = pd.Categorical(sub["network"].astype(str), categories=keys).codes
    pos = sub["op_index"].to_numpy()
    col = lambda c: sub[c].to_numpy(dtype=np.float64)  # noqa: E731
    words = col("w_words") + col("i_words") + col("o_words")
    dims = [col("red"), col("kout"), col("pos"), col("groups") * col("kout")]
    out = np.zeros((len(keys), length, len(OP_RAW)), dtype=np.float32)
    out[..., 3:] = 1.0
    out[net, pos] = np.stack([col("macs"), col("other_ops"), words, *(np.maximum(d, 1.0) for d in dims)], axis=1)
    return np.ascontiguousarray(out.transpose(0, 2, 1)), None  # channels first: see op_layer_array2


# Version 2 (operators only): oracle 2.0's per-operator cost model (oracle/cost.py, oracle/array.py)
# to first order: both dataflows' folds and pipeline skew, the vector unit, buffer traffic with the
# register file's passes, the DRAM tilings and the fused schedule's residency (opfeatures.NEED_COLUMNS),
# and the double-buffered overlap. The model still learns every energy and what this leaves out.
# Per operator, everything that does not depend on the hardware is computed once per network (numpy),
# so the per-(row, operator) work is what does: the loop bounds of both dataflows (oracle/cost.py's
# Geometry: WS D1, D2, T, tiles x has-MACs; OS likewise), the inputs' multicast numerator, where the
# operator runs, and its residency needs.
OP_RAW2 = ["macs", "other_ops", "w_words", "i_words", "o_words", "d1_ws", "d2_ws", "t_ws", "tiles_ws", "d1_os", "d2_os",
           "t_os", "tiles_os", "macs_per_kg", "kg1", "i_no_mac", "other_array", "other_vector", "array",
           "vector", *NEED_COLUMNS]
N_FEATURES2 = 11
NEEDED2 = (*NEEDED, "rf_bytes", "glb_kib")
RF_PIPELINE_WORDS = 2  # as oracle/cost.py: register-file words kept for the two streaming operands


def op_layer_array2(ops: pd.DataFrame, keys: list[str], length: int) -> tuple[np.ndarray, None]:
    """(N, 24, length) raw quantities of each operator (:data:`OP_RAW2`) for :meth:`Roofline.op_features2`.
    Padding is an operator with no work that stays on chip (finite features, masked out of the sums).
    Channels first: each quantity of a batch's rows is then a (B, L) slice contiguous along the
    operators, which the per-(row, operator) arithmetic reads without a transposing copy."""
    missing = [c for c in NEED_COLUMNS if c not in ops.columns]
    if missing:
        raise InputError(f"the operators lack the fused-schedule columns {missing} (NeuralPowerModel.encode_networks "
                         "attaches them from the networks' definitions)")
    sub = ops[ops["network"].astype(str).isin(keys)]
    net = pd.Categorical(sub["network"].astype(str), categories=keys).codes
    kind = sub["kind"].astype(str)
    col = lambda c: sub[c].to_numpy(dtype=np.float64)  # noqa: E731
    vector = kind.isin([KIND_NAMES[k] for k in VECTOR_KINDS]).to_numpy().astype(np.float64)
    array = (vector == 0) & ~kind.isin([KIND_NAMES[k] for k in MEMORY_KINDS]).to_numpy()
    macs, other, g, red, kg, pq = (col(c) for c in ("macs", "other_ops", "groups", "red", "kout", "pos"))
    has_mac = (macs > 0).astype(np.float64)
    kg1 = np.maximum(kg, 1)
    values = [macs, other, col("w_words"), col("i_words"), col("o_words"), red, kg, g * pq, g * has_mac,
              np.maximum(pq, 1), g * kg, red * has_mac, has_mac, macs / kg1, kg1, (1 - has_mac) * col("i_words"),
              other * array, other * vector, array.astype(np.float64), vector, *(col(c) for c in NEED_COLUMNS)]
    out = np.zeros((len(keys), length, len(OP_RAW2)), dtype=np.float32)
    out[..., [5, 6, 9, 10, 14]] = 1.0  # the padding's loop bounds (no MACs: no time)
    out[net, sub["op_index"].to_numpy()] = np.stack(values, axis=1)
    return np.ascontiguousarray(out.transpose(0, 2, 1)), None


def _ceil_st(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.ceil(x) - x).detach()


# The hardware is decoded from float32 normalised values: 256 KiB comes back as 255.99998, and an
# exact ratio (one tile of 131,072 words) as 1.0000001. Version 2 ceils and compares with this
# relative tolerance, far below any real step of the grid.
REL_TOL = 1e-5
TINY = 1e-30  # floor of an energy or time before its log (an operator that costs nothing: a view)
N_CORE_UNITS, N_BW_UNITS = 7, 3  # see Roofline.op_features2
# Starting energy per unit, mJ per count or mJ per second (W x 1e3), in the order of op_features2's
# counts: the oracle's medians over the default hardware space (45 nm, LPDDR4); training then makes
# them functions of the configuration.
UNIT_INIT = (2.7e-10, 2.2e-11, 1.4e-10, 9.6e-10, 2.6e-9, 23.0, 4.7, 9.6e-8, 21.6, 2.4)


def _ceil2(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.ceil(x * (1 - REL_TOL)) - x).detach()


def _ceil_by(x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
    """:func:`_ceil2` of ``x * inv`` for ``inv`` of the hardware alone (B, 1); without gradients (inference)
    one multiplication and the ceiling, not four passes over (B, L)."""
    if torch.is_grad_enabled():
        return _ceil2(x * inv)
    return torch.ceil(x * (inv * (1 - REL_TOL)))


class Roofline(nn.Module):
    """(B, H) normalised hardware + (B, L, M, 9) raw layers of blocks, or (B, C, L) operators ->
    (B, F, L) log features, channels first (standardised by the layer that reads them:
    :meth:`standardize`)."""

    def __init__(self, enc: HardwareEncoder, version: int = 1):
        super().__init__()
        names = [s.name for s in enc.numeric]
        self.version, self.needed = version, (NEEDED2 if version == 2 else NEEDED)
        self.n_features = N_FEATURES2 if version == 2 else N_FEATURES
        missing = [n for n in self.needed if n not in names]
        if missing:
            raise InputError(f"the roofline features need hardware column(s) {missing}; train with --no-physics")
        spec = {s.name: (i, s) for i, s in enumerate(enc.numeric)}
        self.cols = {n: spec[n][0] for n in self.needed}
        self.register_buffer("mean", torch.tensor([spec[n][1].mean for n in self.needed]))
        self.register_buffer("std", torch.tensor([spec[n][1].std for n in self.needed]))
        self.log2 = [spec[n][1].log2 for n in self.needed]
        start, self.bits_cols, self.ws_col = len(names), None, None
        for name, cats in enc.categorical.items():
            if name == "bits":
                self.bits_cols = (start, start + len(cats))
                self.register_buffer("bits_values", torch.tensor([float(c) for c in cats]))
            if name == "dataflow" and "ws" in cats:
                self.ws_col = start + cats.index("ws")
            start += len(cats)
        self.register_buffer("feat_mean", torch.zeros(self.n_features))
        self.register_buffer("feat_std", torch.ones(self.n_features))

    def hardware(self, hw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw hardware values (B, 1, 1) each, differentiable in the normalised inputs."""
        out = {}
        for j, n in enumerate(self.needed):
            t = hw[:, self.cols[n]] * self.std[j] + self.mean[j]
            out[n] = (torch.exp2(t) if self.log2[j] else t)[:, None, None]
        if self.bits_cols is not None:
            p = hw[:, self.bits_cols[0]:self.bits_cols[1]]
            out["bits"] = (p * self.bits_values).sum(-1)[:, None, None] / p.sum(-1).clamp_min(1e-6)[:, None, None]
        else:
            out["bits"] = torch.full_like(out["pe_rows"], 16.0)
        out["ws"] = hw[:, self.ws_col][:, None, None] if self.ws_col is not None else torch.full_like(out["pe_rows"], 0.5)
        return out

    def op_features(self, hw: torch.Tensor, lay: torch.Tensor) -> torch.Tensor:
        """Operators as elements: ``lay`` (B, 7, L) from :func:`op_layer_array` -> (B, 6, L)."""
        h = {k: v[..., 0] for k, v in self.hardware(hw).items()}  # (B, 1) each
        r, c, f = h["pe_rows"], h["pe_cols"], h["freq_mhz"] * 1e6
        macs, other, words, d1w, d2w, d1o, d2o = lay.unbind(1)  # (B, L) each
        fit = lambda d, p: d / (_ceil_st(d / p) * p)  # noqa: E731 - share of p PEs a dimension d keeps busy
        ws = h["ws"]
        u = ws * fit(d1w, r) * fit(d2w, c) + (1 - ws) * fit(d1o, r) * fit(d2o, c)
        rcf = r * c * f
        ideal = macs / rcf
        t_comp = (macs / u.clamp_min(1e-6) + other) / rcf
        t_dram = words * (h["bits"] / (8e9 * h["dram_gbps"]))
        t_buf = words / ((r + c) * f)
        t_roof = torch.maximum(torch.maximum(t_comp, t_dram), t_buf)
        logs = [torch.log(x + EPS) for x in (ideal, t_comp, t_dram, t_buf, t_roof)]
        return torch.stack([*logs, logs[0] - logs[1]], dim=1)  # (B, 6, L); the last: log utilisation

    def op_features2(self, hw: torch.Tensor, lay: torch.Tensor, unit: torch.Tensor | None = None):
        """Operators as elements, version 2: ``lay`` (B, 24, L) from :func:`op_layer_array2` -> (B, 11, L):
        logs of the ideal, compute, buffer, DRAM and overlapped times, the utilisation, the DRAM, buffer
        and register-file words, and the fractions of input and output words through DRAM.

        This runs per (row, operator) at inference, where it is most of the time: every quantity of the
        hardware alone is formed at (B, 1) before it meets an operator's (B, L), and divisions by the
        hardware are multiplications by its reciprocal."""
        h = {k: v[..., 0] for k, v in self.hardware(hw).items()}  # (B, 1) each
        r, c, f, bits, ws = h["pe_rows"], h["pe_cols"], h["freq_mhz"] * 1e6, h["bits"], h["ws"]
        (macs, other, w, i, o, d1_ws, d2_ws, t_ws, tiles_ws, d1_os, d2_os, t_os, tiles_os, macs_per_kg, kg1, i_no_mac,
         other_arr, other_vec, arr, vec, lo, hi, lo_frac, need_o) = lay.unbind(1)  # (B, L) each
        rf_words = h["rf_bytes"] * 8 / bits
        per_tile = r + c - 2 + r * (rf_words - RF_PIPELINE_WORDS < 2).to(lay.dtype)
        hold = (rf_words - RF_PIPELINE_WORDS).clamp_min(1)
        inv_r, inv_c, inv_rc = 1 / r, 1 / c, 1 / (r * c)

        def mapping(d1, d2, t, tiles):  # cycles and register-file passes of one dataflow (oracle/array.py)
            fold1 = _ceil_by(d1, inv_r)
            return fold1 * _ceil_by(d2, inv_c) * (t + tiles * per_tile), _ceil_by(fold1, 1 / hold)

        cyc_ws, pass_ws = mapping(d1_ws, d2_ws, t_ws, tiles_ws)
        cyc_os, pass_os = mapping(d1_os, d2_os, t_os, tiles_os)
        cycles = ws * cyc_ws + (1 - ws) * cyc_os + _ceil_by(other_arr, inv_rc) + _ceil_by(other_vec, inv_c)
        inputs = macs_per_kg * _ceil_by(kg1, inv_c) + i_no_mac
        arr_words = (inputs + ws * (w + o * (2 * pass_ws - 1)) + (1 - ws) * (w * pass_os + o)) * arr
        buf = h["glb_kib"] * 4096 / bits  # half the buffer: the tiles' share and the activations' share
        fits = buf * (1 + REL_TOL)
        in_dram = lo_frac * (lo > fits).to(lay.dtype) + (1 - lo_frac) * (hi > fits).to(lay.dtype)
        out_dram = (need_o > fits).to(lay.dtype)
        i_d = i * in_dram
        inv_buf = 1 / buf
        tiles_w, tiles_i = _ceil_by(w, inv_buf).clamp_min(1), _ceil_by(i, inv_buf).clamp_min(1)
        dram = torch.minimum(w + tiles_w * i_d, tiles_i * w + i_d) + o * out_dram
        glb = arr_words + (i + o) * vec + dram
        t_comp = cycles * (1 / f)
        t_glb = glb * (1 / ((r + c) * f))
        t_dram = dram * (bits / (8e9 * h["dram_gbps"]))
        busy = torch.maximum(t_comp, t_glb)
        t_lat = torch.maximum(busy, t_dram) + torch.minimum(busy, t_dram) / (dram * inv_buf).clamp_min(1)
        ideal = macs * (1 / (r * c * f))
        logs = [torch.log(x + EPS) for x in (ideal, t_comp, t_glb, t_dram, t_lat)]
        words = [torch.log(x + 1) for x in (dram, glb, 3 * macs + arr_words)]  # log1p is 6x slower; x >= 0
        feats = torch.stack([*logs, logs[0] - logs[1], *words, in_dram, out_dram], dim=1)  # (B, 11, L)
        if unit is None:
            return feats
        # What each energy of oracle/cost.py is proportional to, times the energy of one unit that the
        # model learns per configuration (``unit`` (B, 10), mJ per count or per second). Core: MACs,
        # adds, register-file accesses, array-network words, buffer words, the array's clock (latency
        # x array) and leakage (latency); DRAM: words, active standby (transfer time), power-down
        # (latency). Summed in linear space: an exp per element, not a log-sum-exp over ten terms.
        u = [x[:, None] for x in unit.unbind(-1)]  # (B, 1) each
        e_core = (macs * (u[0] + 3 * u[2]) + other * u[1] + arr_words * (u[2] + u[3]) + glb * u[4]
                  + t_lat * (arr * u[5] + u[6]))
        e_bw = dram * u[7] + t_dram * u[8] + t_lat * u[9]
        phys = torch.stack([e_core, e_bw, t_lat * 1e3], dim=-1).add_(TINY).log_()  # (B, L, 3): mJ, mJ, ms
        return feats, phys

    def raw_features(self, hw: torch.Tensor, lay: torch.Tensor, lmask: torch.Tensor | None,
                     unit: torch.Tensor | None = None):
        """Unstandardised features (B, F, L), channels first; with ``unit`` (version 2, operators) also the
        physics' (B, L, 3) log e_core, log e_bw (mJ) and log t (ms) of each operator."""
        if lay.dim() == 3:
            if self.version == 2:
                return self.op_features2(hw, lay, unit)
            return self.op_features(hw, lay)
        h = self.hardware(hw)
        r, c, f = h["pe_rows"][..., None], h["pe_cols"][..., None], h["freq_mhz"][..., None] * 1e6  # (B,1,1,1)
        macs, other, w, i, o, d1w, d2w, d1o, d2o = lay.unbind(-1)  # (B, L, M) each
        util = lambda d1, d2: (d1 / (_ceil_st(d1 / r[..., 0]) * r[..., 0])) * (d2 / (_ceil_st(d2 / c[..., 0]) * c[..., 0]))  # noqa: E731
        ws = h["ws"]
        u = ws * util(d1w.clamp_min(1), d2w.clamp_min(1)) + (1 - ws) * util(d1o.clamp_min(1), d2o.clamp_min(1))
        rc, f0 = (r * c)[..., 0], f[..., 0]
        ideal = macs / (rc * f0)
        t_comp = macs / (rc * u.clamp_min(1e-6) * f0) + other / (rc * f0)
        words = w + i + o
        t_dram = words * h["bits"] / (8e9 * h["dram_gbps"])
        t_buf = words / ((r + c)[..., 0] * f0)
        t_roof = torch.maximum(torch.maximum(t_comp, t_dram), t_buf)
        m = lmask.to(lay.dtype)
        sums = [(x * m).sum(-1) for x in (ideal, t_comp, t_dram, t_buf, t_roof)]  # (B, L) each
        feats = [torch.log(s + EPS) for s in sums]
        feats.append(torch.log((sums[0] + EPS) / (sums[1] + EPS)))  # mean utilisation of the block
        return torch.stack(feats, dim=1)  # (B, 6, L)

    def standardize(self, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A linear layer (D, F) on standardised features as the same layer on raw features: the
        standardisation folds into its weights instead of two passes over every (row, element)."""
        w = weight / self.feat_std  # (D, F)
        return w, bias - w @ self.feat_mean

    @torch.no_grad()
    def fit_scale(self, hw: torch.Tensor, lay: torch.Tensor, lmask: torch.Tensor | None, mask: torch.Tensor) -> None:
        """Standardise with statistics of real (unpadded) blocks of a training sample."""
        raw = self.raw_features(hw, lay, lmask).transpose(1, 2)[mask]  # (n, F)
        self.feat_mean.copy_(raw.mean(0))
        self.feat_std.copy_(raw.std(0).clamp_min(1e-3))
