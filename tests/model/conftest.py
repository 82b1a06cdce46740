"""A small processed dataset built in code: real OFA-MobileNetV3 networks, random hardware, and a
stand-in power function with the oracle's shape (per-layer energy and roofline latency, summed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwpower.model.tables import network_tables
from hwpower.networks import sample_networks
from hwpower.processing import ProcessedDataset, write_processed

HW_NUMERIC = ["pe_rows", "pe_cols", "glb_kib", "dram_gbps", "freq_mhz"]
HW_CATEGORICAL = {"bits": ["8", "16"], "dataflow": ["os", "ws"]}
TARGETS = ["P_core", "P_bw", "P", "latency_ms", "energy_mj"]


def random_hardware(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "pe_rows": rng.choice([8, 16, 32], n), "pe_cols": rng.choice([8, 16, 32], n),
        "glb_kib": rng.choice([64, 128, 256, 512], n), "dram_gbps": rng.choice([4, 8, 16, 32], n),
        "freq_mhz": rng.choice([200, 400, 600, 800, 1000], n),
        "bits": rng.choice(["8", "16"], n), "dataflow": rng.choice(["os", "ws"], n),
    })


def stand_in_power(hw: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """Per layer: T = max(compute, memory), E = E_op x ops + E_dram x bytes; P = sum E / sum T + static."""
    out = pd.DataFrame(index=hw.index, columns=TARGETS, dtype=float)
    for key, rows in hw.groupby("network"):
        g = layers[layers["network"] == key]
        col = lambda name: rows[name].to_numpy(dtype=float)[:, None]  # noqa: E731 - (n, 1) per configuration
        lay = lambda name: g[name].to_numpy(dtype=float)[None, :]  # noqa: E731 - (1, L) per layer
        byte = np.where(rows["bits"].to_numpy() == "8", 1.0, 2.0)[:, None]
        ws = (rows["dataflow"].to_numpy() == "ws")[:, None]
        util = np.minimum(lay("out_channels") / col("pe_cols"), 1.0) * np.where(ws, 0.9, 0.7)
        ops = lay("macs") + lay("other_ops") + 1
        t_comp = ops / (col("pe_rows") * col("pe_cols") * np.maximum(util, 0.05) * col("freq_mhz") * 1e3)  # ms
        dram_bytes = (lay("weights") + lay("in_act") + lay("out_act")) * byte
        t_mem = dram_bytes / (col("dram_gbps") * 1e6)  # ms
        latency = np.maximum(t_comp, t_mem).sum(axis=1)
        vdd = 0.6 + 0.4 * col("freq_mhz")[:, 0] / 1000
        e_core = (ops * 0.2e-9 * byte).sum(axis=1) * vdd ** 2 * (1 + 64 / col("glb_kib")[:, 0])  # mJ
        e_bw = (dram_bytes * 20e-9).sum(axis=1)
        p_core = e_core / latency + 1e-4 * col("pe_rows")[:, 0] * col("pe_cols")[:, 0]
        p_bw = e_bw / latency + 0.02
        out.loc[rows.index] = np.stack([p_core, p_bw, p_core + p_bw, latency, (p_core + p_bw) * latency], axis=1)
    return out.astype(float)


def make_dataset(n_nets: int = 24, n_heldout: int = 6, n_train: int = 1200, n_val: int = 400,
                 seed: int = 0) -> ProcessedDataset:
    rng = np.random.default_rng(seed)
    nets = {f"nets_0/{i}": net for i, net in sample_networks("ofa-mbv3", n_nets, seed).items()}
    networks, blocks, layers = network_tables(nets, source_file="nets_0.json")
    keys = list(nets)
    train_keys, heldout = keys[:-n_heldout], keys[-n_heldout:]

    def samples(n: int, pool: list[str]) -> pd.DataFrame:
        hw = random_hardware(n, rng)
        hw["network"] = rng.choice(pool, n)
        return pd.concat([hw, stand_in_power(hw, layers)], axis=1)

    train = samples(n_train, train_keys)
    val = pd.concat([samples(n_val // 2, train_keys), samples(n_val - n_val // 2, heldout)], ignore_index=True)
    manifest = {"columns": {"hardware_numeric": HW_NUMERIC, "hardware_categorical": HW_CATEGORICAL,
                            "network": "network", "targets": TARGETS}}
    return ProcessedDataset(train, val, networks, blocks, layers, manifest)


def write_dataset(ds: ProcessedDataset, path: Path) -> Path:
    write_processed(ds, path)
    return path


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The development machine is shared: several threads per process oversubscribe its 2 cores
    and make small models 10x slower, so these tests train on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ds() -> ProcessedDataset:
    return make_dataset()


@pytest.fixture(scope="session")
def tiny_dir(tiny_ds, tmp_path_factory) -> Path:
    return write_dataset(tiny_ds, tmp_path_factory.mktemp("processed"))
