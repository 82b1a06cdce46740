"""The three models learn the stand-in physics; the structured model keeps the physics' shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hwpower.errors import InputError
from hwpower.model import NeuralPowerModel, Predictor, evaluate, make_model
from hwpower.model.modules import StructuredNet, reported_targets
from hwpower.model.predictor import as_tables
from hwpower.networks import Network, sample_networks

FAST = dict(epochs=12, batch_size=128, lr=3e-3, hidden=32, device="cpu")


@pytest.fixture(scope="module")
def trained(tiny_ds) -> dict[str, Predictor]:
    return {
        "structured": Predictor(make_model("structured", targets=("P_core", "P_bw", "latency_ms"), **FAST).fit(tiny_ds)),
        "mlp": Predictor(make_model("mlp", targets=("P_core", "P_bw"), mlp_hidden=(64, 64), **{k: v for k, v in FAST.items() if k != "hidden"}).fit(tiny_ds)),
        "gbt": Predictor(make_model("gbt", targets=("P",), n_estimators=200, n_jobs=1).fit(tiny_ds)),
    }


def _median_baseline_mape(ds) -> float:
    return float((ds.val["P"] / ds.train["P"].median() - 1).abs().mean() * 100)


@pytest.mark.parametrize("name", ["structured", "mlp", "gbt"])
def test_models_beat_the_constant_predictor(trained, tiny_ds, name):
    ev = evaluate(trained[name], tiny_ds)
    baseline = _median_baseline_mape(tiny_ds)  # about 60 % on this fixture
    assert baseline > 40
    for split in ("unseen_hardware", "unseen_networks"):
        assert ev.splits[split]["P"]["mape_pct"] < 0.5 * baseline, (name, split, ev.splits[split]["P"])
        assert ev.splits[split]["P"]["spearman"] > 0.8


def test_predictions_are_watts_with_p_the_sum(trained, tiny_ds):
    pred = trained["structured"].predict(tiny_ds.val, tiny_ds)
    assert list(pred.columns) == ["P", "P_core", "P_bw", "latency_ms"]
    assert pred.index.equals(tiny_ds.val.index)
    np.testing.assert_allclose(pred["P"], pred["P_core"] + pred["P_bw"], rtol=1e-5)
    ratio = pred["P"] / tiny_ds.val["P"]
    assert ratio.between(0.5, 2).all()  # right unit and magnitude (W), not log or normalised


def test_structured_is_invariant_to_padding():
    torch.manual_seed(0)
    net = StructuredNet(n_hw=5, n_el=7, reported=reported_targets(("P_core", "P_bw", "latency_ms", "energy_mj")), hidden=16)
    hw, x = torch.randn(3, 5), torch.randn(3, 4, 7)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    out = net(hw, x, mask)
    padded = net(hw, torch.cat([x, torch.randn(3, 5, 7)], dim=1), torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(out, padded)
    cols = dict(zip(net.reported, out.unbind(-1)))
    torch.testing.assert_close(cols["energy_mj"], cols["P"] + cols["latency_ms"])  # E = P x T in log space
    torch.testing.assert_close(cols["P"].exp(), cols["P_core"].exp() + cols["P_bw"].exp())


def test_structured_latency_grows_with_more_blocks():
    """Adding an element can only add energy and time: sums of positive terms."""
    torch.manual_seed(1)
    net = StructuredNet(n_hw=3, n_el=4, reported=["latency_ms"], hidden=8)
    hw, x = torch.randn(2, 3), torch.randn(2, 6, 4)
    short = net(hw, x, torch.tensor([[1, 1, 1, 0, 0, 0]] * 2, dtype=torch.bool))
    long = net(hw, x, torch.ones(2, 6, dtype=torch.bool))
    assert torch.all(long > short)


def test_forward_normalized_is_differentiable(trained, tiny_ds):
    p = trained["structured"]
    nets = p.encode_networks(list(sample_networks("ofa-mbv3", 2, 99).values()))
    hw = torch.from_numpy(p.hw_encoder.encode(tiny_ds.val[p.hw_encoder.columns].head(2))).requires_grad_(True)
    out = p.forward_normalized(hw, nets, torch.tensor([0, 1]))
    assert out.shape == (2, len(p.targets))
    out[:, p.targets.index("P")].sum().backward()
    assert torch.isfinite(hw.grad).all() and hw.grad.abs().sum() > 0
    bounds = p.bounds()
    assert bounds["pe_rows"]["grid"] == [8.0, 16.0, 32.0] and bounds["pe_rows"]["norm_min"] < 0 < bounds["pe_rows"]["norm_max"]


def test_predict_one_matches_batch(trained, tiny_ds):
    p = trained["structured"]
    row = tiny_ds.val.iloc[0]
    definition = tiny_ds.networks.set_index("network").loc[row["network"], "definition"]
    one = p.predict_one(Network.from_dict(json.loads(definition)), {c: row[c] for c in p.hw_encoder.columns})
    batch = p.predict(tiny_ds.val.head(1), as_tables(tiny_ds))
    assert one["P"] == pytest.approx(float(batch["P"].iloc[0]), rel=1e-5)


def test_flat_mlp_refuses_deeper_networks(trained):
    p = trained["mlp"]
    deep = sample_networks("ofa-mbv3", 1, 0)[0]
    blocks = list(deep.blocks)
    hw = {"pe_rows": 16, "pe_cols": 16, "glb_kib": 128, "dram_gbps": 8, "freq_mhz": 400, "bits": "8", "dataflow": "ws"}
    assert p.predict_one(deep, hw)["P"] > 0  # a network of trained depth works
    p.model.max_len_ = len(blocks) - 1  # pretend training saw only shallower networks
    try:
        with pytest.raises(InputError, match=f"has {len(blocks)} blocks; the flat MLP was trained on at most"):
            p.predict_one(deep, hw)
    finally:
        p.model.max_len_ = 10 ** 6


def test_unknown_target_and_model_are_refused(tiny_ds):
    with pytest.raises(InputError, match="unknown target"):
        NeuralPowerModel(targets=("power",)).fit(tiny_ds)
    with pytest.raises(InputError, match="unknown model 'rnn'"):
        make_model("rnn")


def test_gbt_and_mlp_outputs(trained, tiny_ds):
    assert trained["gbt"].targets == ["P"]
    assert trained["mlp"].targets == ["P", "P_core", "P_bw"]
    pred = trained["mlp"].predict(tiny_ds.val.head(5), tiny_ds)
    np.testing.assert_allclose(pred["P"], pred["P_core"] + pred["P_bw"], rtol=1e-5)
    with pytest.raises(InputError, match="not differentiable"):
        trained["gbt"].encode_networks(tiny_ds)
    assert isinstance(pred, pd.DataFrame)


def test_gbt_predict_takes_the_neural_keywords_and_refuses_unknown_ones(trained, tiny_ds):
    """The trees accept (and ignore) ``batch_size`` and ``compile`` like the neural model; any
    other keyword is a TypeError, as Python raises it, not swallowed."""
    gbt, tables = trained["gbt"].model, as_tables(tiny_ds)
    rows = tiny_ds.val.head(7)
    plain = gbt.predict(rows, tables, out_of_range="ignore", source="val")
    same = gbt.predict(rows, tables, out_of_range="ignore", source="val", batch_size=2, compile=True)
    pd.testing.assert_frame_equal(plain, same)
    with pytest.raises(TypeError, match="unexpected keyword argument 'batchsize'"):
        gbt.predict(rows, tables, batchsize=2)


def test_fit_returns_the_estimator_itself(tiny_ds):
    """scikit-learn pattern: ``fit`` trains in place and returns self (the training loop in
    training.py reads the estimator by duck typing, without importing neural.py)."""
    model = make_model("mlp", targets=("P_core",), mlp_hidden=(8,), epochs=1, batch_size=256, device="cpu")
    assert model.fit(tiny_ds) is model
    assert len(model.history_) == 1
