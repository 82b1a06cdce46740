"""Stand-ins for the search tests: a small hardware space, an analytic "oracle" with the physics'
shape (energy per MAC and per DRAM byte, latency = max(compute, memory)), and a tiny torch
predictor implementing the search's DifferentiablePredictor protocol with the same physics (and a
small deliberate bias, so verification has something to show)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hwpower.networks import sample_networks


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    low: float
    high: float
    scale: str
    grid: tuple
    unit: str = ""


@dataclass(frozen=True)
class Space:
    params: tuple

    @property
    def numeric_names(self):
        return [p.name for p in self.params if p.kind != "categorical"]

    @property
    def categorical(self):
        return {p.name: p.grid for p in self.params if p.kind == "categorical"}

    def grid_frame(self):
        import itertools
        rows = list(itertools.product(*(p.grid for p in self.params)))
        return pd.DataFrame(rows, columns=[p.name for p in self.params])

    def sample(self, n, seed):
        rng = np.random.default_rng(seed)
        return pd.DataFrame({p.name: rng.choice(np.array(p.grid, dtype=object), n) for p in self.params}).astype(
            {p.name: (int if p.kind == "int" else object) for p in self.params})


def _p(name, grid, scale="log", kind="int"):
    return Param(name, kind, min(grid), max(grid), scale, tuple(grid))


SPACE = Space((
    _p("pe_rows", (4, 8, 16, 32)),
    _p("pe_cols", (4, 8, 16, 32)),
    _p("glb_kib", (32, 64, 128, 256, 512)),
    _p("dram_gbps", (4, 8, 16, 32)),
    _p("freq_mhz", (200, 400, 600, 800, 1000), scale="linear"),
    Param("bits", "categorical", 8, 16, "linear", (8, 16)),
    Param("dataflow", "categorical", 0, 0, "linear", ("ws", "os")),
))


def physics(xp, macs, weights, acts, rows, cols, glb, bw, freq, bits16, os_flow):
    """P_core, P_bw (W), latency_ms, energy_mj. ``xp`` is numpy or torch."""
    pes = rows * cols
    util = 0.85 - 0.15 * os_flow
    t_comp = macs / (pes * util * freq * 1e6)
    bytes_ = (weights + acts * (1 + 64.0 / glb)) * (1 + bits16)
    t_mem = bytes_ / (bw * 1e9)
    lat = xp.maximum(t_comp, t_mem)
    volt = 0.6 + freq / 2500.0
    e_core = macs * (0.2e-12 + 0.6e-12 * bits16) * volt**2 + pes * 2e-4 * lat * volt + bytes_ * 2e-12 * xp.sqrt(glb / 64.0)
    e_bw = bytes_ * 8 * 8e-12 + 0.05 * bw / 8 * lat
    return e_core / lat, e_bw / lat, lat * 1e3, (e_core + e_bw) * 1e3


def net_features(nets):
    c = [n.counts for n in nets]
    return (np.array([x.macs for x in c], float), np.array([x.weights for x in c], float),
            np.array([x.in_act + x.out_act for x in c], float))


class FakeOracle:
    def evaluate_many(self, nets, net_index, hw):
        macs, weights, acts = (f[np.asarray(net_index)] for f in net_features(nets))
        pc, pb, lat, e = physics(np, macs, weights, acts, hw.pe_rows.to_numpy(float), hw.pe_cols.to_numpy(float),
                                 hw.glb_kib.to_numpy(float), hw.dram_gbps.to_numpy(float), hw.freq_mhz.to_numpy(float),
                                 (hw.bits.to_numpy() == 16).astype(float), (hw.dataflow.to_numpy() == "os").astype(float))
        return pd.DataFrame({"P_core": pc, "P_bw": pb, "P": pc + pb, "latency_ms": lat, "energy_mj": e})

    def evaluate(self, net, hw):
        return self.evaluate_many([net], np.zeros(len(hw), int), hw)


NUMERIC = ("pe_rows", "pe_cols", "glb_kib", "dram_gbps", "freq_mhz")


class Encoder:
    """log for log parameters, then standardize; one-hot categoricals (numeric columns first)."""

    def __init__(self):
        self.mean = {n: float(np.mean(np.log(SPACE.params[i].grid))) if i < 4 else 600.0 for i, n in enumerate(NUMERIC)}
        self.std = {n: 1.0 if i < 4 else 300.0 for i, n in enumerate(NUMERIC)}

    def encode(self, df):
        cols = []
        for i, n in enumerate(NUMERIC):
            v = df[n].to_numpy(float)
            cols.append(((np.log(v) if i < 4 else v) - self.mean[n]) / self.std[n])
        cols += [(df.bits.to_numpy() == 8).astype(float), (df.bits.to_numpy() == 16).astype(float),
                 (df.dataflow.to_numpy() == "ws").astype(float), (df.dataflow.to_numpy() == "os").astype(float)]
        return torch.tensor(np.stack(cols, 1), dtype=torch.float32)

    def decode_t(self, x):
        vals = []
        for i, n in enumerate(NUMERIC):
            v = x[:, i] * self.std[n] + self.mean[n]
            vals.append(torch.exp(v) if i < 4 else v)
        return vals + [x[:, 6], x[:, 8]]  # bits16 weight, os weight


class FakePredictor(nn.Module):
    targets = ("P_core", "P_bw", "latency_ms", "energy_mj")

    def __init__(self, bias: float = 0.005):
        super().__init__()
        self.hw_encoder = Encoder()
        self.bias = nn.Parameter(torch.tensor(bias))  # a parameter, to check it stays frozen

    def encode_networks(self, nets):
        return [torch.tensor(f, dtype=torch.float64) for f in net_features(nets)]

    def forward_normalized(self, hw_norm, nets, net_index):
        macs, weights, acts = (f[net_index] for f in nets)
        hw = [v.double() for v in self.hw_encoder.decode_t(hw_norm)]
        out = physics(torch, macs, weights, acts, *hw)
        return torch.stack([torch.log(o) for o in out], 1).float() + self.bias


@pytest.fixture(scope="session")
def space():
    return SPACE


@pytest.fixture(scope="session")
def nets():
    return list(sample_networks("ofa-mbv3", 6, seed=3).values())


@pytest.fixture(scope="session")
def train_hw():
    return SPACE.sample(3000, seed=1)


@pytest.fixture
def ctx(space, train_hw):
    from hwpower.search import DescentConfig, Domain, SearchContext, kmeans_starts
    return SearchContext(FakePredictor(), space, Domain.fit(train_hw, space), kmeans_starts(train_hw, space, k=4),
                         oracle=FakeOracle(), n_random=8, config=DescentConfig(steps=80, snap_every=40))
