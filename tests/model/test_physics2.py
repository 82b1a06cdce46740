"""Physics features version 2 (operators, oracle 2.0's fused schedule): the roofline latency and DRAM
words of every operator, summed, are the oracle's; old runs keep version 1; the seed's MLP on graph
networks says what to do instead of failing with a NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hwpower.errors import InputError
from hwpower.model import NeuralPowerModel
from hwpower.model.encoding import HardwareEncoder
from hwpower.model.roofline import Roofline, op_layer_array2
from hwpower.model.tables import NetworkTables
from hwpower.model.training import train
from hwpower.networks import sample_networks
from hwpower.networks.expand import expand_network
from hwpower.oracle import HardwareSpace, Oracle
from hwpower.processing import ProcessedDataset
from hwpower.processing.opfeatures import NEED_COLUMNS, needs_table

SPACE = HardwareSpace.default()


def _features(net, hw: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    enc = HardwareEncoder.fit(hw, SPACE.numeric_names, {k: list(v) for k, v in SPACE.categorical.items()})
    tables = NetworkTables.from_networks({"n": net})
    ops = tables.ops.merge(needs_table(tables.networks, ["n"]).drop(columns="network"), on="op_index")
    lay, _ = op_layer_array2(ops, ["n"], len(ops))
    x = torch.from_numpy(enc.encode(hw))
    feats = Roofline(enc, version=2).raw_features(x, torch.from_numpy(lay).expand(len(hw), -1, -1), None)
    return feats.transpose(1, 2).numpy(), ops  # (rows, operators, features): channels last to index


@pytest.mark.parametrize("space", ["ofa-mbv3", "transformer"])
def test_latency_and_dram_words_match_the_oracle(space):
    net = sample_networks(space, 1, 4)[0]
    hw = SPACE.sample(12, 5).reset_index(drop=True)
    feats, ops = _features(net, hw)
    oracle = Oracle()
    for j in range(len(hw)):
        bd = oracle.breakdown(net, hw.iloc[j].to_dict()).head(len(ops))
        latency_s = np.exp(feats[j, :, 4].astype(np.float64)).sum()
        dram_words = np.expm1(feats[j, :, 6].astype(np.float64)).sum()
        assert latency_s == pytest.approx(bd["latency_ms"].sum() / 1e3, rel=2e-3)
        assert dram_words == pytest.approx(bd["dram_bytes"].sum() / (hw["bits"][j] / 8), rel=2e-3)


def test_processing_stores_no_residency_needs():
    """They cost a schedule plan per network: computed when a model asks, not by ``hwpower process``."""
    tables = NetworkTables.from_networks({"n": sample_networks("ofa-mbv3", 1, 4)[0]})
    assert not set(NEED_COLUMNS) & set(tables.ops.columns)
    needs = needs_table(tables.networks, ["n"])
    assert len(needs) == len(tables.ops) and (needs["in_lo_frac"] > 0).all()
    assert np.isinf(needs["need_in_lo_words"].iloc[0])  # the first operator reads the graph input


def test_a_larger_buffer_keeps_activations_on_chip():
    """The fused schedule's residency: with the largest buffer some activations stay on chip (fewer
    DRAM words than with the smallest), and the fractions through DRAM are 0 or 1 for one input."""
    net = sample_networks("ofa-mbv3", 1, 4)[0]
    hw = SPACE.sample(2, 0).reset_index(drop=True)
    hw["glb_kib"] = [min(SPACE["glb_kib"].grid), max(SPACE["glb_kib"].grid)]
    feats, _ = _features(net, hw)
    dram = np.expm1(feats[:, :, 6].astype(np.float64)).sum(axis=1)
    assert dram[1] < 0.9 * dram[0]
    assert feats[0, :, 10].mean() > feats[1, :, 10].mean()  # output through DRAM, small against large buffer


def _graph_only(ds_rows: int = 60) -> ProcessedDataset:
    nets = {f"g/{i}": expand_network(n) for i, n in sample_networks("ofa-mbv3", 4, 2).items()}
    hw = SPACE.sample(ds_rows, 1).reset_index(drop=True)
    keys = np.asarray(list(nets))[np.arange(ds_rows) % len(nets)]
    out = Oracle().evaluate_many(list(nets.values()), np.arange(ds_rows) % len(nets), hw)
    rows = pd.concat([hw, pd.DataFrame({"network": keys}), out[["P_core", "P_bw", "P", "latency_ms"]].reset_index(drop=True)],
                     axis=1)
    from hwpower.model.tables import network_tables

    networks, blocks, layers = network_tables(nets, source_file="g.json")
    manifest = {"columns": {"hardware_numeric": SPACE.numeric_names,
                            "hardware_categorical": {k: list(v) for k, v in SPACE.categorical.items()},
                            "network": "network", "targets": ["P_core", "P_bw", "P", "latency_ms"]}}
    return ProcessedDataset(rows, rows.copy(), networks, blocks, layers, manifest)


def test_seed_mlp_on_graph_networks_is_a_clear_error():
    ds = _graph_only()
    with pytest.raises(InputError, match=r"have no blocks: graph networks are made of operators only; use --elements ops"):
        NeuralPowerModel(arch="mlp", device="cpu", epochs=1).fit(ds)


def test_seed_mlp_reads_operators_when_asked():
    ds = _graph_only()
    model = NeuralPowerModel(arch="mlp", elements="ops", device="cpu", epochs=2, batch_size=16).fit(ds)
    pred = model.predict(ds.val.head(8), NetworkTables.of(ds))
    assert np.isfinite(pred.to_numpy()).all() and (pred["P"] > 0).all()


def test_a_run_saved_before_version_2_loads_as_version_1(tmp_path):
    from hwpower.model.checkpoint import read_meta
    from hwpower.io import write_json_atomic

    ds = _graph_only()
    run = tmp_path / "run"
    train(NeuralPowerModel(device="cpu", epochs=1, hidden=8, batch_size=32, physics_version=1), ds, run_dir=run, progress=False)
    meta = read_meta(run / "best")
    del meta["config"]["physics_version"]
    del meta["config"]["params"]["physics_version"]
    meta_file = next(p for p in (run / "best").iterdir() if p.suffix == ".json")
    write_json_atomic(meta_file, meta)
    loaded = NeuralPowerModel.from_checkpoint(run / "best")
    assert loaded.physics_version_ == 1 and loaded.module_.unit is None
    assert np.isfinite(loaded.predict(ds.val.head(4), NetworkTables.of(ds)).to_numpy()).all()


def test_compiled_inference_matches_eager():
    """``predict(compile=True)`` runs the same module through torch.compile (the last layer written as a
    sum inductor fuses): same predictions, also on a second call with other batch shapes."""
    ds = _graph_only()
    model = NeuralPowerModel(device="cpu", epochs=1, hidden=8, batch_size=32).fit(ds)
    tables = NetworkTables.of(ds)
    eager = model.predict(ds.val, tables)
    compiled = model.predict(ds.val, tables, compile=True)
    np.testing.assert_allclose(compiled.to_numpy(), eager.to_numpy(), rtol=1e-5)
    few = model.predict(ds.val.head(5), tables, compile=True, batch_size=2)  # other shapes: no new answer
    np.testing.assert_allclose(few.to_numpy(), eager.head(5).to_numpy(), rtol=1e-5)


def test_a_frozen_model_embeds_each_network_once_with_the_same_outputs_and_gradients():
    """The search freezes the predictor: ``forward_normalized`` then reuses the elements' embedding
    across calls; outputs and the gradient to the hardware are those of the full computation."""
    ds = _graph_only()
    model = NeuralPowerModel(device="cpu", epochs=1, hidden=8, batch_size=32).fit(ds)
    nets = model.encode_networks(NetworkTables.of(ds), sorted(ds.val["network"].astype(str).unique()))
    enc = model.encode_samples(ds.val, nets, with_targets=False)

    def run():
        hw = enc.hw[:6].clone().requires_grad_(True)
        out = model.forward_normalized(hw, nets, enc.net[:6])
        out.sum().backward()
        return out.detach(), hw.grad

    full = run()
    model.module_.requires_grad_(False)
    first, again = run(), run()
    assert model._embedding[0] is nets.x  # computed once, kept for this network batch
    for got in (first, again):
        torch.testing.assert_close(got[0], full[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[1], full[1], rtol=1e-4, atol=1e-6)
    model.epochs = 2
    model.fit(ds)  # a refit builds a new module: the kept embedding is not reused
    refit = run()
    model.module_.requires_grad_(False)
    torch.testing.assert_close(run()[0], refit[0], rtol=1e-5, atol=1e-6)
