"""The operator-level predictor (issue 12): trained on block networks, it predicts operator graphs it
never saw; the out-of-domain guard warns, errors and (with --strict) exits 2; nothing non-finite is
returned silently."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import InputError
from hwpower.model import Predictor, train_model
from hwpower.model.bounds import PhysicsWarning, check_physical
from hwpower.model.support import NetworkSupportWarning
from hwpower.model.tables import network_tables
from hwpower.networks import GraphNetwork, Op, sample_networks, write_networks
from hwpower.networks.expand import expand_network
from hwpower.oracle import HardwareSpace, Oracle
from hwpower.processing import ProcessedDataset

TARGETS = ["P_core", "P_bw", "P", "latency_ms", "energy_mj"]


def conv_stack(kernel: int = 3, size: int = 224, name: str = "conv-stack") -> GraphNetwork:
    """A hand-made plain CNN of operator kinds OFA networks have (conv, eltwise, pool, move, linear):
    a stem, four stages of a strided k x k convolution, a 1 x 1 convolution and a residual add."""
    shapes = {"x": (1, 3, size, size)}
    ops: list[Op] = []

    def add(op_name: str, kind: str, inputs: list[str], out: tuple, **attrs) -> str:
        ops.append(Op.build(op_name, kind, inputs, [shapes[i] for i in inputs], out, **attrs))
        shapes[op_name] = out
        return op_name

    cur, side = add("stem", "conv2d", ["x"], (1, 16, size // 2, size // 2), kernel=3, stride=2, padding=1,
                    norm="batch", act="relu"), size // 2
    for i, channels in enumerate((24, 40, 80, 160)):
        side //= 2
        a = add(f"s{i}.a", "conv2d", [cur], (1, channels, side, side), kernel=kernel, stride=2, padding=kernel // 2,
                norm="batch", act="relu")
        b = add(f"s{i}.b", "conv2d", [a], (1, channels, side, side), kernel=1, norm="batch")
        cur = add(f"s{i}.add", "eltwise", [b, a], (1, channels, side, side), fn="add")
    pool = add("pool", "pool", [cur], (1, 160, 1, 1), fn="avg", kernel=side)
    flat = add("flat", "move", [pool], (1, 160), fn="view")
    add("fc", "linear", [flat], (1, 1000), bias=True)
    return GraphNetwork.build(ops, {"x": shapes["x"]}, name=name)


@pytest.fixture(scope="module")
def oracle_ds() -> ProcessedDataset:
    """OFA networks (block form) with oracle targets: 14 for training, 4 held out."""
    nets = {f"nets_0/{i}": n for i, n in sample_networks("ofa-mbv3", 18, 3).items()}
    keys = list(nets)
    space = HardwareSpace.default()
    rng = np.random.default_rng(0)

    def rows(n: int, pool: list[str], seed: int) -> pd.DataFrame:
        hw = space.sample(n, seed).reset_index(drop=True)
        net = rng.choice(len(pool), n)
        out = Oracle().evaluate_many([nets[k] for k in pool], net, hw)
        return pd.concat([hw, pd.DataFrame({"network": np.asarray(pool)[net]}), out[TARGETS].reset_index(drop=True)], axis=1)

    train = rows(1500, keys[:14], 1)
    val = rows(300, keys, 2)
    networks, blocks, layers = network_tables(nets, source_file="nets_0.json")
    manifest = {"columns": {"hardware_numeric": space.numeric_names,
                            "hardware_categorical": {k: list(v) for k, v in space.categorical.items()},
                            "network": "network", "targets": TARGETS}}
    return ProcessedDataset(train, val, networks, blocks, layers, manifest)


@pytest.fixture(scope="module")
def ops_run(oracle_ds, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "ops"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetworkSupportWarning)
        warnings.simplefilter("ignore", PhysicsWarning)
        train_model(oracle_ds, "structured", run_dir=run, progress=False, figures=False, epochs=8, hidden=32,
                    depth=1, batch_size=128, device="cpu", seed=0)
    return run


def _hw(oracle_ds, n: int = 20) -> pd.DataFrame:
    return oracle_ds.val.drop(columns=["network", *TARGETS]).head(n).reset_index(drop=True)


def test_ops_model_predicts_graph_networks_it_never_saw(ops_run, oracle_ds):
    predictor = Predictor.load(ops_run)
    assert predictor.model.element_kind == "ops"
    held_out = sample_networks("ofa-mbv3", 20, 3)[19]  # neither trained on nor validated
    graphs = {"g/0": expand_network(held_out), "g/1": conv_stack()}
    hw = _hw(oracle_ds)
    for key, graph in graphs.items():
        samples = hw.assign(network=key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NetworkSupportWarning)
            pred = predictor.predict(samples, graphs)
        truth = Oracle().evaluate(graph, hw)
        ratio = pred["P"].to_numpy() / truth["P"].to_numpy()
        assert np.isfinite(pred.to_numpy()).all()
        assert (ratio > 0.33).all() and (ratio < 3.0).all(), (key, ratio)
    # the graph form and the block form of one network are the same operators: the same prediction
    block = predictor.predict(hw.assign(network="b"), {"b": held_out}, out_of_range="ignore")
    graph = predictor.predict(hw.assign(network="g/0"), graphs, out_of_range="ignore")
    np.testing.assert_allclose(block["P"].to_numpy(), graph["P"].to_numpy(), rtol=1e-5)


def test_support_warns_on_weights_far_beyond_training(ops_run, oracle_ds):
    predictor = Predictor.load(ops_run)
    hi = predictor.model.support_.kinds["linear"].ranges["weights"][1]
    wide = int(np.sqrt(17 * hi))  # a linear layer with about 17x the largest trained weights
    x = (1, wide)
    big = GraphNetwork.build([Op.build("fc", "linear", ["x"], [x], (1, wide))], {"x": x}, name="wide")
    assert big.ops[0].weights > 16 * hi
    with pytest.warns(NetworkSupportWarning, match=r"network big, operator 0 \(fc\) \(linear\): \w+=\S+ is outside "
                                                   r"the trained range \[\S+, \S+\].*1 of 1 operator\(s\) outside the "
                                                   r"training support \(.*weights.*\)") as caught:
        predictor.predict(_hw(oracle_ds, 3).assign(network="big"), {"big": big})
    details = next(w.message.details for w in caught if isinstance(w.message, NetworkSupportWarning))
    weights = next(d for d in details if d["feature"] == "weights")  # every feature outside is in the details
    assert weights["value"] == big.ops[0].weights and weights["trained"].endswith(f"{hi:g}]")
    with pytest.raises(InputError, match=r"operator 0 \(fc\) \(linear\): \w+=\S+ is outside the trained range.*weights"):
        predictor.predict(_hw(oracle_ds, 3).assign(network="big"), {"big": big}, out_of_range="error")


def test_support_warns_on_a_kernel_larger_than_any_trained(ops_run, oracle_ds):
    predictor = Predictor.load(ops_run)
    assert predictor.model.support_.kinds["conv2d"].ranges["kernel"] == [1.0, 7.0]
    with pytest.warns(NetworkSupportWarning) as caught:
        predictor.predict(_hw(oracle_ds, 3).assign(network="k11"), {"k11": conv_stack(kernel=11)})
    support = [w.message for w in caught if isinstance(w.message, NetworkSupportWarning)]
    assert len(support) == 1  # one line for the network, however many operators and features are outside
    details, n_ops = support[0].details, len(conv_stack(kernel=11).ops)
    assert {"network": "k11", "op_index": 1, "operator": "s0.a", "kind": "conv2d", "reason": "range",
            "feature": "kernel", "value": 11.0, "trained": "[1, 7]"}.items() <= next(
                d for d in details if d["feature"] == "kernel").items()
    n_out = len({d["op_index"] for d in details})
    assert f"; {n_out} of {n_ops} operator(s) outside the training support (" in str(support[0])
    assert "kernel" in str(support[0]).rsplit("support (", 1)[1]  # the features named in the line


def test_an_unseen_operator_kind_is_an_error(ops_run, oracle_ds):
    x = (1, 16, 32)
    attention = GraphNetwork.build([Op.build("a", "softmax", ["x"], [x], x)], {"x": x})
    with pytest.raises(InputError, match=r"network att, operator 0 \(a\).*kind 'softmax' was never seen in training"):
        Predictor.load(ops_run).predict(_hw(oracle_ds, 2).assign(network="att"), {"att": attention})


def test_support_is_saved_as_json(ops_run):
    meta = json.loads((ops_run / "best" / "meta.json").read_text())
    support = meta["config"]["support"]
    assert set(support["kinds"]) == {"conv2d", "eltwise", "linear", "move", "pool"}
    assert support["kinds"]["conv2d"]["threshold"] >= 1.0 and support["kinds"]["conv2d"]["points"]


def test_strict_exits_2_on_a_network_outside_the_support(ops_run, oracle_ds, tmp_path):
    write_networks(tmp_path / "nets_x.json", {0: conv_stack(kernel=11), 1: conv_stack()})
    hw = _hw(oracle_ds, 1).iloc[0]
    spec = ",".join(f"{k}={v}" for k, v in hw.items())
    runner = CliRunner()
    ok = runner.invoke(app, ["predict", str(ops_run), "--nets", str(tmp_path / "nets_x.json"), "--id", "0", "--hw", spec])
    assert ok.exit_code == 0, ok.output
    said = " ".join(ok.output.split())
    assert said.count("NetworkSupportWarning") == 1 and "network nets_x/0, operator " in said
    assert "outside the training support (" in said and "--debug lists all" in said and "P = " in said
    debug = runner.invoke(app, ["--debug", "predict", str(ops_run), "--nets", str(tmp_path / "nets_x.json"), "--id",
                                "0", "--hw", spec])  # the full list, one line per operator and feature
    assert "nets_x/0, operator 1 (s0.a) (conv2d): kernel=11 is outside the trained range [1, 7]" in debug.output
    strict = runner.invoke(app, ["predict", str(ops_run), "--nets", str(tmp_path / "nets_x.json"), "--id", "0",
                                 "--hw", spec, "--strict"])
    assert strict.exit_code == 2, strict.output
    refused = " ".join(strict.output.split())
    assert "error: " in refused and "network nets_x/0, operator " in refused and "P = " not in refused
    assert "kernel" in refused.rsplit("outside the training support (", 1)[1]  # the features outside, named


def test_non_finite_predictions_are_never_returned_silently():
    hw = pd.DataFrame({"pe_rows": [16, 16], "pe_cols": [16, 16], "freq_mhz": [500, 500], "bits": [8, 8],
                       "dram_gbps": [8.0, 8.0]})
    nets = pd.Series(["n/0", "n/1"])
    bad = pd.DataFrame({"P": [1.0, np.inf], "latency_ms": [1.0, 1.0]})
    with pytest.raises(InputError, match=r"row 1, network n/1: the model predicted P=inf, not a finite positive number"):
        check_physical(bad, hw, nets, np.array([1e9, 1e9]))
    huge = pd.DataFrame({"P": [1.0, 1e13], "latency_ms": [1.0, 1e-9]})
    with pytest.warns(PhysicsWarning) as caught:
        check_physical(huge, hw, nets, np.array([1e8, 1e8]))
    texts = " ".join(str(w.message) for w in caught)
    assert "row 1 (network n/1): predicted P=1e+13 is above the physical maximum" in texts
    assert "latency_ms=1e-09 is below the physical minimum" in texts
    with pytest.raises(InputError, match="above the physical maximum"):
        check_physical(huge, hw, nets, np.array([1e8, 1e8]), policy="error")
    assert check_physical(pd.DataFrame({"P": [1.0], "latency_ms": [5.0]}), hw.head(1), nets.head(1), np.array([1e9])) == []


def test_networks_never_trained_on_are_scored_against_the_oracle(ops_run):
    from hwpower.model.evaluate import evaluate_networks, oracle_rows

    predictor = Predictor.load(ops_run)
    nets = {"plain": conv_stack(), "k11": conv_stack(kernel=11)}
    rows = oracle_rows(nets, 12, seed=0)
    assert len(rows) == 24 and (rows.groupby("network").size() == 12).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PhysicsWarning)
        zoo = evaluate_networks(predictor, nets, rows).set_index("network")
        pred = predictor.predict(rows[rows["network"] == "k11"].drop(columns=[*TARGETS, "area_mm2"]),
                                 nets, out_of_range="ignore")
    truth = rows.loc[rows["network"] == "k11", "P"].to_numpy()
    ape = np.abs(pred["P"].to_numpy() / truth - 1) * 100
    assert zoo.loc["k11", "mape_pct"] == pytest.approx(ape.mean())
    assert zoo.loc["k11", "within_10_pct"] == pytest.approx((ape <= 10).mean() * 100)
    said = zoo.loc["k11", "out_of_domain"]  # the guard's one line, returned as data
    assert said.startswith("zoo: network k11, operator ") and "kernel" in said.rsplit("support (", 1)[1]
    assert zoo.loc["k11", "ops_outside"] == int(said.split("; ")[1].split(" of ")[0])
