"""The out-of-domain guard on its own: one line per network, the full list in the details."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.model.predictor import as_tables
from hwpower.model.support import NetworkSupport, NetworkSupportWarning, describe, operator_namer

from .test_ops_model import conv_stack


def _ops(nets: dict):
    tables = as_tables(nets)
    return tables.ops, operator_namer(tables.networks)


@pytest.fixture(scope="module")
def support() -> NetworkSupport:
    ops, _ = _ops({"train/0": conv_stack(), "train/1": conv_stack(size=160)})
    return NetworkSupport.fit(ops)


def test_a_trained_network_is_inside(support):
    ops, names = _ops({"same": conv_stack()})
    assert support.problems(ops, names).empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert support.check(ops, names=names) == []


def test_one_warning_per_network_naming_the_worst_and_the_count(support):
    ops, names = _ops({"k7": conv_stack(kernel=7), "wide": conv_stack(size=448)})
    with pytest.warns(NetworkSupportWarning) as caught:
        texts = support.check(ops, names=names, source="nets_x.json")
    assert len(caught) == 2 and [str(w.message) for w in caught] == [f"nets_x.json: {t}" for t in texts]
    k7 = next(w.message for w in caught if "network k7" in str(w.message))
    # kernel 7 where 1 and 3 were trained: the four strided convolutions s0.a .. s3.a (operators 1, 4, 7, 10)
    kernel = [d for d in k7.details if d["feature"] == "kernel"]
    assert [(d["op_index"], d["operator"], d["value"], d["trained"]) for d in kernel] == [
        (i, f"s{s}.a", 7.0, "[1, 3]") for s, i in enumerate((1, 4, 7, 10))]
    n_out = len({d["op_index"] for d in k7.details})
    assert f"; {n_out} of {len(conv_stack().ops)} operator(s) outside the training support (" in str(k7)
    worst = k7.details[0]  # the line starts with it
    assert str(k7).startswith(f"nets_x.json: {describe(worst)};")
    assert worst["reason"] == "range" and worst["excess"] == max(d["excess"] for d in k7.details if d["reason"] == "range")


def test_strict_names_the_operator_and_feature(support):
    ops, names = _ops({"k7": conv_stack(kernel=7)})
    with pytest.raises(InputError, match=r"^nets_x.json: network k7, operator 1 \(s0.a\) \(conv2d\): kernel=7 is outside "
                                         r"the trained range \[1, 3\] of conv2d operators; 4 of 16 operator\(s\) outside "
                                         r"the training support \(kernel, .*\); the prediction extrapolates \(--strict\)$"):
        support.check(ops, policy="error", names=names, source="nets_x.json")
    assert support.check(ops, policy="ignore", names=names) == []


def test_words_and_distances_are_described():
    word = {"network": "n", "op_index": 3, "operator": "blocks.1", "kind": "conv2d", "reason": "word",
            "feature": "act", "value": "relu6", "trained": "seen: relu, silu"}
    assert describe(word) == ("network n, operator 3 (blocks.1) (conv2d): act='relu6' was never seen with conv2d "
                              "operators in training (seen: relu, silu)")
    far = {**word, "operator": "", "reason": "distance", "feature": "distance", "value": 3.456, "trained": "<= 2.00"}
    assert describe(far) == "network n, operator 3 (conv2d): distance 3.46 to the nearest training conv2d operator exceeds 2.00"


def test_hardware_outside_the_trained_range_is_one_line_per_parameter(tiny_ds):
    from hwpower.model.encoding import HardwareEncoder, OutOfRangeWarning

    from .conftest import HW_CATEGORICAL, HW_NUMERIC
    from .test_encoding import _row

    enc = HardwareEncoder.fit(tiny_ds.train, HW_NUMERIC, HW_CATEGORICAL)
    rows = pd.concat([_row(pe_rows=64 + i, freq_mhz=5000) for i in range(50)] + [_row()], ignore_index=True)
    with pytest.warns(OutOfRangeWarning) as caught:
        enc.encode(rows, source="batch.csv")
    assert sorted(str(w.message) for w in caught) == [
        "batch.csv: row 0: freq_mhz=5000 is outside the trained range [200, 1000] (50 row(s)); the prediction extrapolates",
        "batch.csv: row 0: pe_rows=64 is outside the trained range [8, 32] (50 row(s)); the prediction extrapolates"]
