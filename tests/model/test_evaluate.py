"""Metrics on hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.model.evaluate import metrics
from hwpower.model.experiments import data_verdict


def test_metrics_hand_computed():
    true = np.array([1.0, 2.0, 4.0, 8.0])
    pred = np.array([1.09, 2.0, 3.64, 8.2])  # errors +9 %, 0 %, -9 %, +2.5 %
    m = metrics(true, pred)
    assert m["mape_pct"] == pytest.approx(5.125)
    assert m["rmspe_pct"] == pytest.approx(np.sqrt((0.0081 + 0 + 0.0081 + 0.000625) / 4) * 100)
    assert m["within_5_pct"] == pytest.approx(50.0)
    assert m["within_10_pct"] == pytest.approx(100.0)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["max_ape_pct"] == pytest.approx(9.0)
    assert metrics(true, pred[::-1])["spearman"] == pytest.approx(-1.0)


@given(st.lists(st.floats(0.01, 100), min_size=2, max_size=30), st.floats(0.5, 2.0))
def test_a_constant_factor_gives_its_relative_error(values, factor):
    true = np.asarray(values)
    m = metrics(true, true * factor)
    assert m["mape_pct"] == pytest.approx(abs(factor - 1) * 100, rel=1e-9, abs=1e-9)
    assert m["rmspe_pct"] == pytest.approx(abs(factor - 1) * 100, rel=1e-9, abs=1e-9)


def test_data_verdict_flattened_or_not():
    import pandas as pd

    still = pd.DataFrame({"train_rows": [1000, 2000, 4000], "val_mape_pct": [8.0, 5.0, 3.0]})
    flat = pd.DataFrame({"train_rows": [1000, 2000, 4000], "val_mape_pct": [8.0, 3.0, 2.9]})
    assert not data_verdict(still).flattened and data_verdict(still).last_gain == pytest.approx(0.4)
    assert data_verdict(flat).flattened and "flattened" in data_verdict(flat).message


def test_write_evaluation_gives_tables_and_the_out_of_domain_list(tmp_path):
    import json

    import pandas as pd

    from hwpower.cli.tables import evaluation_table
    from hwpower.model.evaluate import Evaluation, evaluation_frame, write_evaluation

    m = metrics(np.array([1.0, 2.0]), np.array([1.1, 1.8]))
    problem = {"network": "nets_x/0", "op_index": 1, "operator": "s0.a", "kind": "conv2d", "reason": "range",
               "feature": "kernel", "value": 11.0, "trained": "[1, 7]", "excess": 0.8}
    per_net = pd.DataFrame({"network": ["nets_x/0"], "split": ["unseen_networks"], "n": [2], "mape_pct": [10.0]})
    ev = Evaluation("structured", {"unseen_networks": {"P": m}}, {}, per_net, [problem])
    frame = evaluation_frame(ev)
    assert frame[["split", "target", "n"]].values.tolist() == [["networks", "P", 2]]
    assert frame.loc[0, "mape_pct"] == pytest.approx(10.0)
    paths = write_evaluation(ev, tmp_path)
    saved = json.loads(paths["out_of_domain"].read_text())
    assert saved["model"] == "structured" and saved["operators"] == [problem]
    text = paths["txt"].read_text()
    assert "Evaluation of the structured model" in text and "nets_x/0" in text and "10.0" in text
    table = evaluation_table(ev)  # the command line's rendering of the same data
    assert [c.header for c in table.columns][:4] == ["unseen", "target", "n", "MAPE"]
    assert list(table.columns[3].cells) == ["10.000"]
