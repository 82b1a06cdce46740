"""`generate`: the raw format, splits, held-out networks, determinism, noise and errors."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import HwpowerError, InputError, OutputError
from hwpower.generate import COLUMNS, GenerateConfig, generate, make_plan, round_significant
from hwpower.networks import read_networks
from hwpower.oracle import HW_PARAMS, HardwareSpace, Oracle, OracleSettings

SMALL = GenerateConfig(networks=8, train_rows=300, val_rows=100, seed=7, shards=3, search_space="ofa-mbv3",
                       include_reference=True)  # the single-space recipe with the references


def read_split(folder, split) -> pd.DataFrame:
    files = sorted(folder.glob(f"{split}_*.txt"))
    return pd.concat([pd.read_csv(f, sep=r"\s+") for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "raw"
    manifest = generate(out, SMALL)
    return out, manifest


def test_files_and_format(raw):
    out, manifest = raw
    names = sorted(p.name for p in out.iterdir())
    assert names == ["manifest.json", "nets_0.json", "nets_ref.json", "train_0.txt", "train_1.txt", "train_2.txt",
                     "val_0.txt", "val_1.txt", "val_2.txt"]
    header = (out / "train_0.txt").read_text().splitlines()[0]
    assert header.split(" ") == list(COLUMNS)
    train = read_split(out, "train")
    assert len(train) == 300 and list(train.columns) == list(COLUMNS)
    assert train["network"].str.fullmatch(r"nets_(0|ref)/\d+").all()
    HardwareSpace.default().validate(train[list(HW_PARAMS)], on_grid=True)
    np.testing.assert_allclose(train["P"], train["P_core"] + train["P_bw"], rtol=2e-5)
    np.testing.assert_allclose(train["energy_mj"], train["P"] * train["latency_ms"], rtol=2e-5)
    assert (train[["P_core", "P_bw", "latency_ms"]] > 0).all().all()
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["files"]["train_1.txt"]["rows"] == 100


def test_values_are_the_oracle_rounded(raw):
    out, _ = raw
    nets = {f"{stem}/{i}": net for stem in ("nets_0", "nets_ref")
            for i, net in read_networks(out / f"{stem}.json").items()}
    val = read_split(out, "val")
    rows = val[val["network"] == val["network"].iloc[0]]
    expected = Oracle().evaluate(nets[rows["network"].iloc[0]], rows[list(HW_PARAMS)])
    np.testing.assert_allclose(rows["P_core"], expected["P_core"], rtol=1e-5)
    np.testing.assert_allclose(rows["latency_ms"], expected["latency_ms"], rtol=1e-5)


def test_splits_hardware_and_heldout_networks(raw):
    out, manifest = raw
    train, val = read_split(out, "train"), read_split(out, "val")
    space = HardwareSpace.default()
    assert not set(space.codes(train[list(HW_PARAMS)])) & set(space.codes(val[list(HW_PARAMS)]))
    held = set(manifest["heldout_networks"])
    assert len(held) == round(0.2 * 13) == 3  # 8 sampled + 5 reference networks
    assert not held & set(train["network"]) and held <= set(val["network"])
    assert set(train["network"]) | held == set(val["network"])  # every network is evaluated
    counts = train["network"].value_counts()
    assert counts.max() - counts.min() <= 1  # balanced
    assert manifest["counts"]["val_rows_unseen_network"] == int(val["network"].isin(held).sum()) > 0
    assert manifest["counts"]["networks_by_file"] == {"nets_0": 8, "nets_ref": 5}


def test_same_seed_same_bytes_other_seed_other_bytes(raw, tmp_path):
    out, _ = raw
    again = tmp_path / "again"
    generate(again, SMALL)
    for f in out.iterdir():
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name
    other = tmp_path / "other"
    generate(other, dataclasses.replace(SMALL, seed=8))
    assert (other / "train_0.txt").read_bytes() != (out / "train_0.txt").read_bytes()


def test_noise_is_relative_and_seeded(raw, tmp_path):
    out, _ = raw
    noisy = tmp_path / "noisy"
    generate(noisy, dataclasses.replace(SMALL, noise=0.1))
    a, b = read_split(out, "train"), read_split(noisy, "train")
    pd.testing.assert_frame_equal(a[list(HW_PARAMS) + ["network"]], b[list(HW_PARAMS) + ["network"]])
    ratio = np.log(b["P_core"] / a["P_core"])
    assert 0.07 < ratio.std() < 0.13 and abs(ratio.mean()) < 0.03
    np.testing.assert_allclose(b["P"], b["P_core"] + b["P_bw"], rtol=2e-5)


def test_round_significant():
    x = np.array([0.41230000001, 123.456789, 0.000834123456, 3.3, 0.0])
    assert round_significant(x).tolist() == [0.4123, 123.457, 0.000834123, 3.3, 0.0]


def test_plan_covers_val_heavy_requests():
    plan = make_plan(GenerateConfig(networks=3, train_rows=50, val_rows=2000, seed=1, include_reference=False))
    assert len(plan.rows["train"]) == 50 and len(plan.rows["val"]) == 2000


@pytest.mark.parametrize("kwargs,message", [
    ({"networks": 0}, "networks must be >= 1"),
    ({"noise": -0.1}, "noise must be in [0, 1)"),
    ({"backend": "spice"}, "backend must be one of"),
    ({"heldout_fraction": 1.0}, "heldout fraction must be in (0, 1)"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        GenerateConfig(**kwargs)


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not an output of `hwpower generate`"):
        generate(tmp_path, SMALL)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_zigzag_backend_reports_clearly_when_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hwpower.oracle.zigzag_backend", None)  # import now fails
    with pytest.raises(HwpowerError, match="--backend zigzag is not available"):
        generate(tmp_path / "z", GenerateConfig(networks=2, train_rows=2, val_rows=1, backend="zigzag",
                                                include_reference=False, settings=OracleSettings(schedule="layer")))
    assert not (tmp_path / "z").exists()


class PerNetworkOracle:
    """A peer backend's interface: ``evaluate(net, hw)`` only (as ZigZagOracle has)."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, net, hw):
        self.calls += 1
        return Oracle().evaluate(net, hw)


def test_peer_backends_go_through_evaluate_per_network(raw, tmp_path, monkeypatch):
    out, _ = raw
    peer = PerNetworkOracle()
    monkeypatch.setattr("hwpower.generate.campaign.make_oracle", lambda backend, settings: peer)
    generate(tmp_path / "peer", SMALL)
    assert peer.calls >= 13  # every network, shard by shard
    for name in ("train_0.txt", "val_2.txt"):
        assert (tmp_path / "peer" / name).read_bytes() == (out / name).read_bytes()


def test_cli_end_to_end(tmp_path):
    runner = CliRunner()
    space = tmp_path / "space.toml"
    space.write_text(HardwareSpace.default().to_toml().replace("grid = [8, 16]", "grid = [8]"))
    out = tmp_path / "raw"
    args = ["generate", "--out", str(out), "--networks", "4", "--train-rows", "40", "--val-rows", "10",
            "--seed", "3", "--shards", "2", "--space", str(space), "--no-reference"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 40 train and 10 val rows over 4 networks (1 held out)" in result.output
    train = read_split(out, "train")
    assert set(train["bits"]) == {8} and len(train) == 40
    assert json.loads((out / "manifest.json").read_text())["space"]["bits"]["grid"] == [8]
    bad = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--space", str(tmp_path / "none.toml")])
    assert bad.exit_code == 2 and "none.toml: cannot read" in " ".join(bad.output.split())
