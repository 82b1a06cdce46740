"""A small synthetic processed dataset (sampled networks, random hardware, a stand-in power law).

It follows docs/data-format.md so that the report is tested without the oracle or ``hwpower process``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwpower import __version__
from hwpower.networks import sample_networks
from hwpower.model.tables import network_tables
from hwpower.processing import ProcessedDataset, load_processed, write_processed
from hwpower.report import build_report

HW_GRID = {
    "pe_rows": [8, 16, 32], "pe_cols": [8, 16, 32], "rf_bytes": [16, 64, 256], "glb_kib": [64, 256, 1024],
    "dram_gbps": [4.0, 16.0, 64.0], "freq_mhz": [200.0, 500.0, 1000.0],
}
CATEGORICAL = {"bits": ["8", "16"], "dataflow": ["ws", "os"]}


def stand_in_power(hw: pd.DataFrame, nets: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Power rising with array size, clock, width and traffic: spans decades like the oracle's."""
    macs = hw["network"].map(nets.set_index("network")["macs"]).to_numpy(float)
    weights = hw["network"].map(nets.set_index("network")["weights"]).to_numpy(float)
    bits = hw["bits"].astype(float).to_numpy()
    p_core = 2e-6 * hw.pe_rows * hw.pe_cols * hw.freq_mhz * (bits / 8) ** 2 * (macs / 2e8) ** 0.3
    p_bw = 5e-3 * hw.dram_gbps * (weights / 4e6) ** 0.5 * (bits / 8)
    noise = rng.lognormal(0, 0.05, size=(2, len(hw)))
    p_core, p_bw = p_core.to_numpy() * noise[0], p_bw.to_numpy() * noise[1]
    latency = 1e3 * macs / (hw.pe_rows * hw.pe_cols * hw.freq_mhz * 1e6).to_numpy()
    p = p_core + p_bw
    return pd.DataFrame({"P_core": p_core, "P_bw": p_bw, "P": p, "latency_ms": latency, "energy_mj": p * latency})


def _hardware(rng: np.random.Generator, keys: list[str], n: int) -> pd.DataFrame:
    df = pd.DataFrame({k: rng.choice(v, n) for k, v in HW_GRID.items()})
    for k, v in CATEGORICAL.items():
        df[k] = rng.choice(v, n)
    df["network"] = rng.choice(keys, n)
    return df


def make_processed(path: Path, *, n_networks: int = 14, n_unseen: int = 4, n_train: int = 600,
                   n_val: int = 300, seed: int = 0) -> ProcessedDataset:
    nets = sample_networks("ofa-mbv3", n_networks, seed)
    networks, blocks, layers = network_tables({f"nets_0/{i}": net for i, net in nets.items()}, source_file="nets_0.json")
    networks["network"] = networks["network"].astype(str)  # plain keys, as stand_in_power expects
    keys = networks["network"].tolist()
    seen, unseen = keys[: n_networks - n_unseen], keys[n_networks - n_unseen:]
    rng = np.random.default_rng(seed)
    train = _hardware(rng, seen, n_train)
    val = _hardware(rng, keys, n_val)
    train = pd.concat([train, stand_in_power(train, networks, rng)], axis=1)
    val = pd.concat([val, stand_in_power(val, networks, rng)], axis=1)
    manifest = {
        "version": __version__,
        "columns": {"hardware_numeric": list(HW_GRID), "hardware_categorical": CATEGORICAL,
                    "network": "network", "targets": ["P_core", "P_bw", "P", "latency_ms", "energy_mj"]},
        "units": {"P_core": "W", "P_bw": "W", "P": "W", "latency_ms": "ms", "energy_mj": "mJ"},
        "held_out_networks": unseen,
    }
    networks, blocks, layers = network_tables({f"nets_0/{i}": net for i, net in nets.items()}, source_file="nets_0.json")
    write_processed(ProcessedDataset(train, val, networks, blocks, layers, manifest), path)
    return load_processed(path)


@pytest.fixture(scope="session")
def processed_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("processed")
    make_processed(path)
    return path


# per-network errors of an evaluation (two families) and zoo networks scored against the oracle
PER_NETWORK = [{"network": "nets_0/1", "split": "unseen_hardware", "n": 10, "mape_pct": 4.0, "max_ape_pct": 9.0},
               {"network": "nets_0/2", "split": "unseen_hardware", "n": 30, "mape_pct": 8.0, "max_ape_pct": 15.0},
               {"network": "nets_0/12", "split": "unseen_networks", "n": 20, "mape_pct": 6.0, "max_ape_pct": 11.0},
               {"network": "nets_resnet/3", "split": "unseen_networks", "n": 5, "mape_pct": 3.0, "max_ape_pct": 5.0}]
ZOO = [{"network": "torchvision:resnet18", "n": 200, "mape_pct": 6.9, "within_10_pct": 74.0, "max_ape_pct": 30.0,
        "out_of_domain": "", "ops_outside": 0},
       {"network": "torchvision:alexnet", "n": 200, "mape_pct": 22.9, "within_10_pct": 24.0, "max_ape_pct": 60.0,
        "out_of_domain": "zoo: network torchvision:alexnet, operator 1 (features.0) (conv2d): kernel=11 is outside "
                         "the trained range [1, 7] of conv2d operators; 4 of 13 operator(s) outside the training "
                         "support (kernel); the prediction extrapolates", "ops_outside": 4}]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A run folder as train, evaluate, the experiments and a design search leave it (no checkpoint)."""
    run = tmp_path_factory.mktemp("run")
    (run / "history.json").write_text(json.dumps(
        [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_mape_pct": 20 / e} for e in range(1, 6)]))
    metric = {"n": 10, "mape_pct": 4.1, "rmspe_pct": 5.0, "within_5_pct": 70.0, "within_10_pct": 95.0,
              "spearman": 0.99, "max_ape_pct": 12.0}
    (run / "evaluation.json").write_text(json.dumps({
        "hwpower_version": "0.1.0", "model": "structured",
        "splits": {"unseen_hardware": {"P": metric, "P_core": {**metric, "mape_pct": 3.0}},
                   "unseen_networks": {"P": {**metric, "mape_pct": 7.9}}},
        "worst": {"unseen_hardware": [{"network": "nets_0/1", "P": 1.0, "P_pred": 1.2, "error_pct": 20.0}]},
        "per_network": PER_NETWORK}))
    (run / "zoo.json").write_text(json.dumps({"hardware_configurations": 200, "networks": ZOO}))
    (run / "experiments").mkdir()
    (run / "experiments" / "sizes.json").write_text(json.dumps(
        {"arch": "structured", "rows": [{"model": 0, "n_parameters": 1000, "val_mape_pct": 6.0},
                                        {"model": 1, "n_parameters": 4000, "val_mape_pct": 4.0}]}))
    (run / "experiments" / "data.json").write_text(json.dumps(
        {"arch": "structured", "verdict": {"message": "still improving; more data would help"},
         "rows": [{"fraction": 0.5, "train_rows": 300, "val_mape_pct": 8.0}, {"fraction": 1.0, "train_rows": 600, "val_mape_pct": 5.0}]}))
    (run / "search").mkdir()
    (run / "search" / "design.json").write_text(json.dumps(
        {"task": "design", "verified": True, "meta": {"objective": "P"},
         "candidates": [{"rank": 1, "pe_rows": 16, "pred_P": 0.5, "oracle_P": 0.52}]}))
    (run / "search" / "starts.json").write_text(json.dumps({"k": 2, "centroids": []}))  # not a search result
    _parity_png(run / "parity.png")  # a figure the run made itself: embedded as it is
    return run


def _parity_png(path: Path) -> None:
    from hwpower.report.figures import new_figure, png_bytes

    fig, (ax,) = new_figure(width=4, height=4)
    ax.loglog([0.1, 1.0], [0.11, 0.9], "o")
    ax.set(title="P", xlabel="true P (W)", ylabel="predicted P (W)")
    path.write_bytes(png_bytes(fig))


@pytest.fixture(scope="session")
def full_report(processed_dir, run_dir, tmp_path_factory):
    """The report with every section: predictions stand in for a trained predictor (10 % too high)."""
    ds = load_processed(processed_dir)
    predictions = pd.DataFrame({"P_core": ds.val["P_core"] * 1.1, "P_bw": ds.val["P_bw"] * 1.1})
    out = tmp_path_factory.mktemp("reports") / "full"
    return build_report(processed_dir, out, run_dir, predictions=predictions, progress=False)


@pytest.fixture(scope="session")
def ds(processed_dir) -> ProcessedDataset:
    return load_processed(processed_dir)


def _assert_labelled(fig) -> None:
    """Every data axes has a title and both axis labels (or shares its y label); the PNG renders."""
    from hwpower.report.figures import png_bytes

    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert axes and (fig.get_suptitle() or len(axes) == 1)
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    for ax in axes:
        assert ax.get_title(), f"axes without title in {fig.get_suptitle()!r}"
        shares_x = len(ax.get_shared_x_axes().get_siblings(ax)) > 1
        assert ax.get_xlabel() or shares_x, f"axes {ax.get_title()!r} has no x label"
        shares_y = len(ax.get_shared_y_axes().get_siblings(ax)) > 1
        assert ax.get_ylabel() or shares_y, f"axes {ax.get_title()!r} has no y label"
    assert png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def assert_labelled():
    return _assert_labelled
