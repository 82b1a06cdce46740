"""Prediction intervals: split-conformal calibration of log residuals (hwpower.model.uncertainty)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.model import Predictor, train_model
from hwpower.model.uncertainty import Calibration, conformal_quantile

from .conftest import make_dataset


def test_conformal_quantile_is_the_ceil_rank():
    scores = np.arange(1, 20, dtype=float)  # n = 19: ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(scores, 0.5) == 10.0
    with pytest.raises(InputError, match="at least 9 calibration rows"):
        conformal_quantile(scores[:8], 0.9)
    with pytest.raises(InputError, match="interval must lie in"):
        conformal_quantile(scores, 1.0)


def test_interval_columns():
    cal = Calibration({"P": [0.0, 0.1, 0.2] * 4, "P_core": [0.05] * 12}, "test")
    pred = pd.DataFrame({"P": [1.0, 2.0], "P_core": [0.5, 0.7], "latency_ms": [3.0, 4.0]})
    band = cal.interval(pred, 0.9)
    assert list(band.columns) == ["P_lo", "P_hi", "P_core_lo", "P_core_hi", "rel_halfwidth"]
    assert band["P_hi"].tolist() == pytest.approx([np.exp(0.2), 2 * np.exp(0.2)])
    assert band["P_core_lo"].tolist() == pytest.approx([0.5 * np.exp(-0.05), 0.7 * np.exp(-0.05)])
    assert band["rel_halfwidth"].tolist() == pytest.approx([np.sinh(0.2)] * 2)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    ds = make_dataset(n_nets=30, n_heldout=10, n_train=1500, n_val=1600, seed=3)
    run = tmp_path_factory.mktemp("run") / "s"
    train_model(ds, "structured", run_dir=run, progress=False, figures=False, epochs=6, hidden=16,
                batch_size=256, device="cpu", targets=("P_core", "P_bw", "latency_ms"))
    return ds, run


def test_run_saves_calibration_and_predict_gives_ordered_intervals(calibrated):
    ds, run = calibrated
    saved = json.loads((run / "calibration.json").read_text())
    assert saved["rows"].startswith("validation rows on held-out networks")
    assert set(saved["scores"]) == {"P", "P_core", "P_bw", "latency_ms"}
    p = Predictor.load(run)
    pred = p.predict(ds.val, ds, out_of_range="ignore", interval=0.9)
    for t in p.targets:
        assert (pred[f"{t}_lo"] <= pred[t]).all() and (pred[t] <= pred[f"{t}_hi"]).all()
    assert (pred["rel_halfwidth"] > 0).all()
    wider = p.predict(ds.val, ds, out_of_range="ignore", interval=0.95)
    assert (wider["P_hi"] >= pred["P_hi"]).all()


def test_coverage_on_held_out_networks(calibrated):
    """The two-fold estimate saved with the run, and a fresh set of networks, land near 90 %."""
    ds, run = calibrated
    cov = json.loads((run / "calibration.json").read_text())["coverage"]
    assert 75 <= cov["unseen_networks"]["P"] <= 100
    p = Predictor.load(run)
    fresh = make_dataset(n_nets=30, n_heldout=10, n_train=10, n_val=800, seed=11)
    unseen = fresh.val[fresh.unseen_network_mask().to_numpy()]
    pred = p.predict(unseen, fresh, out_of_range="ignore", interval=0.9)
    inside = ((unseen["P"] >= pred["P_lo"]) & (unseen["P"] <= pred["P_hi"])).mean()
    assert 0.7 <= inside <= 1.0


def test_evaluate_reports_coverage(calibrated):
    from hwpower.model import evaluate

    ds, run = calibrated
    ev = evaluate(Predictor.load(run), ds)
    for split in ("unseen_hardware", "unseen_networks"):
        assert 60 <= ev.splits[split]["P"]["coverage_90_pct"] <= 100


def test_no_calibration_is_an_error(calibrated):
    ds, run = calibrated
    p = Predictor.load(run)
    p.calibration = None
    with pytest.raises(InputError, match="no interval calibration"):
        p.predict(ds.val.head(3), ds, out_of_range="ignore", interval=0.9)
