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
    """(N, length, 7) hardware-independent quantities of each operator: MACs, other operations, the
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
    return out, None


def _ceil_st(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.ceil(x) - x).detach()


class Roofline(nn.Module):
    """(B, H) normalised hardware + (B, L, M, 9) raw layers of blocks, or (B, L, 7) operators ->
    (B, L, 6) standardised log features."""

    def __init__(self, enc: HardwareEncoder):
        super().__init__()
        names = [s.name for s in enc.numeric]
        missing = [n for n in NEEDED if n not in names]
        if missing:
            raise InputError(f"the roofline features need hardware column(s) {missing}; train with --no-physics")
        spec = {s.name: (i, s) for i, s in enumerate(enc.numeric)}
        self.cols = {n: spec[n][0] for n in NEEDED}
        self.register_buffer("mean", torch.tensor([spec[n][1].mean for n in NEEDED]))
        self.register_buffer("std", torch.tensor([spec[n][1].std for n in NEEDED]))
        self.log2 = [spec[n][1].log2 for n in NEEDED]
        start, self.bits_cols, self.ws_col = len(names), None, None
        for name, cats in enc.categorical.items():
            if name == "bits":
                self.bits_cols = (start, start + len(cats))
                self.register_buffer("bits_values", torch.tensor([float(c) for c in cats]))
            if name == "dataflow" and "ws" in cats:
                self.ws_col = start + cats.index("ws")
            start += len(cats)
        self.register_buffer("feat_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feat_std", torch.ones(N_FEATURES))

    def hardware(self, hw: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw hardware values (B, 1, 1) each, differentiable in the normalised inputs."""
        out = {}
        for j, n in enumerate(NEEDED):
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
        """Operators as elements: ``lay`` (B, L, 7) from :func:`op_layer_array` -> (B, L, 6)."""
        h = {k: v[..., 0] for k, v in self.hardware(hw).items()}  # (B, 1) each
        r, c, f = h["pe_rows"], h["pe_cols"], h["freq_mhz"] * 1e6
        macs, other, words, d1w, d2w, d1o, d2o = lay.permute(2, 0, 1).contiguous().unbind(0)  # (B, L) each, contiguous
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
        return torch.stack([*logs, logs[0] - logs[1]], dim=-1)  # (B, L, 6); the last: log utilisation

    def raw_features(self, hw: torch.Tensor, lay: torch.Tensor, lmask: torch.Tensor | None) -> torch.Tensor:
        if lay.dim() == 3:
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
        return torch.stack(feats, dim=-1)  # (B, L, 6)

    def forward(self, hw: torch.Tensor, lay: torch.Tensor, lmask: torch.Tensor | None) -> torch.Tensor:
        return (self.raw_features(hw, lay, lmask) - self.feat_mean) / self.feat_std

    @torch.no_grad()
    def fit_scale(self, hw: torch.Tensor, lay: torch.Tensor, lmask: torch.Tensor | None, mask: torch.Tensor) -> None:
        """Standardise with statistics of real (unpadded) blocks of a training sample."""
        raw = self.raw_features(hw, lay, lmask)[mask]  # (n, 6)
        self.feat_mean.copy_(raw.mean(0))
        self.feat_std.copy_(raw.std(0).clamp_min(1e-3))
