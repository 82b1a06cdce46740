"""Recover, identify and design on the stand-in predictor, verified by the stand-in oracle."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwpower.errors import InputError
from hwpower.search import RecoverLayer, RecoverQuery, design, identify, parse_constraint, recover
from hwpower.search.blackbox import DesignTask, exhaustive
from hwpower.search.problem import parse_objective

from .conftest import SPACE, FakeOracle

HIDDEN = pd.DataFrame([dict(pe_rows=16, pe_cols=8, glb_kib=128, dram_gbps=8, freq_mhz=600, bits=8, dataflow="ws")])


@given(arrays(np.float32, (5, 3), elements=st.floats(-1e4, 1e4, width=32)))
def test_recover_layer_stays_inside_bounds(z):
    lo = torch.tensor([[-1.0, 0.0, 2.0]]).repeat(5, 1)
    hi = torch.tensor([[1.0, 0.0, 3.0]]).repeat(5, 1)
    layer = RecoverLayer((lo + hi) / 2, lo, hi)
    with torch.no_grad():
        layer.z.copy_(torch.as_tensor(z))
    x = layer()
    assert torch.all(x >= lo) and torch.all(x <= hi)
    assert torch.all(x[:, 1] == 0.0)  # a fixed parameter (lo == hi) never moves


def test_recover_reaches_target_under_oracle_and_keeps_predictor_frozen(ctx, nets):
    target = float(FakeOracle().evaluate(nets[0], HIDDEN)["P"][0])
    res = recover(ctx, [RecoverQuery(nets[0], {"P": target}, "a"), RecoverQuery(nets[1], {"P": 2 * target}, "b")],
                  top_k=4, verify=True)
    c = res.candidates
    assert set(c["query"]) == {"a", "b"} and c.groupby("query").size().max() <= 4
    assert np.isin(c["pe_rows"], [4, 8, 16, 32]).all() and np.isin(c["freq_mhz"], [200, 400, 600, 800, 1000]).all()
    best = c.groupby("query")["oracle_err_P_pct"].apply(lambda s: s.abs().min())
    assert (best < 2.0).all()
    # verification is a real oracle call: oracle = prediction / exp(bias) for the stand-in
    np.testing.assert_allclose(c["oracle_P"], c["pred_P"] / np.exp(0.005), rtol=1e-4)
    assert ctx.predictor.bias.grad is None and not ctx.predictor.bias.requires_grad
    assert res.meta["n_starts"] == 2 * 4 * (4 + 8)  # queries x combos x (centroids + random)
    assert res.to_dict()["verified"] is True


def test_recover_candidates_are_diverse(ctx, nets):
    target = float(FakeOracle().evaluate(nets[0], HIDDEN)["P"][0])
    c = recover(ctx, [RecoverQuery(nets[0], {"P": target})], top_k=6).candidates
    hw = c[list(SPACE.numeric_names) + ["bits", "dataflow"]]
    assert not hw.duplicated().any()
    assert (c["rank"] == np.arange(1, len(c) + 1)).all()


def test_recover_fixed_parameter_is_respected(ctx, nets):
    target = float(FakeOracle().evaluate(nets[0], HIDDEN)["P"][0])
    c = recover(ctx, [RecoverQuery(nets[0], {"P": target})], fixed={"bits": 16, "glb_kib": 64}).candidates
    assert (c["bits"] == 16).all() and (c["glb_kib"] == 64).all()


def test_identify_recovers_hidden_accelerator_and_reports_spread(ctx, nets):
    hw = pd.concat([HIDDEN] * len(nets), ignore_index=True)
    measured = FakeOracle().evaluate_many(nets, np.arange(len(nets)), hw)[["P_core", "P_bw"]]
    res = identify(ctx, nets, measured, verify=True)
    best = res.candidates.iloc[0]
    assert best["oracle_max_err_pct"] < 2.0
    # the stand-in physics sees only pe_rows * pe_cols: the array shape is not determined, the rest is
    assert best["pe_rows"] * best["pe_cols"] == 128
    spread = res.tables["spread"].set_index("parameter")
    assert not spread.loc["pe_rows", "determined"] and spread.loc["pe_rows", "n_values"] > 1
    for name in ("glb_kib", "dram_gbps", "freq_mhz", "bits", "dataflow"):
        assert spread.loc[name, "determined"], name
        assert str(spread.loc[name, "best"]) == str(HIDDEN.iloc[0][name])
    assert len(res.tables["details"]) == len(nets)


def test_design_matches_exhaustive_optimum(ctx, nets):
    lat = float(FakeOracle().evaluate(nets[2], HIDDEN)["latency_ms"][0]) * 1.3
    cons = [parse_constraint(f"latency_ms<={lat}")]
    res = design(ctx, [nets[2]], objective="P", constraints=cons, verify=True)
    truth = exhaustive(DesignTask([nets[2]], parse_objective("P"), cons), FakeOracle(), SPACE)
    assert res.meta["best_oracle_objective"] <= truth.best_objective * 1.02
    assert res.meta["oracle_calls"] == res.meta["n_verified"] >= len(res.candidates) == 8
    assert res.candidates["oracle_feasible"].iloc[0]
    assert res.candidates["oracle_objective"].iloc[0] == res.meta["best_oracle_objective"]


def test_design_weighted_set_with_fixed_bits(ctx, nets):
    cons = [parse_constraint("latency_ms<=50")]
    res = design(ctx, nets[:3], weights=[1, 2, 1], objective="energy_mj", constraints=cons, fixed={"bits": 16},
                 verify=True)
    assert (res.candidates["bits"] == 16).all()
    ok = res.candidates[res.candidates["oracle_feasible"]]
    assert len(ok) and res.meta["best_oracle_objective"] == pytest.approx(ok["oracle_objective"].min())
    assert len(res.tables["details"]) == 3 * len(res.candidates)


def test_bad_queries_name_the_problem(ctx, nets):
    with pytest.raises(InputError, match="one non-negative weight per network"):
        design(ctx, nets[:2], weights=[1.0])
    with pytest.raises(InputError, match="one row of measured outputs per network"):
        identify(ctx, nets[:2], pd.DataFrame({"P": [1.0]}))
    ctx.oracle = None
    with pytest.raises(InputError, match="needs an oracle"):
        recover(ctx, [RecoverQuery(nets[0], {"P": 1.0})], verify=True)
    with pytest.raises(InputError, match="needs an oracle"):
        design(ctx, nets[:1], verify=True)


def test_iterated_local_search_and_per_combination_polish_only_ever_improve(ctx, nets):
    """Hops add perturbed-and-polished points to the pool and per-combination polish keeps more
    points: the best predicted loss of a query can only stay or fall, never rise."""
    from dataclasses import replace

    from hwpower.search.descent import run
    from hwpower.search.steps import search_problem

    hw = pd.concat([HIDDEN.assign(pe_rows=64, freq_mhz=200)] * len(nets), ignore_index=True)
    log_meas = torch.log(torch.tensor(FakeOracle().evaluate_many(nets, np.arange(len(nets)), hw)[["P_core", "P_bw"]]
                                      .to_numpy(), dtype=torch.float32))

    def loss(out, start):
        return torch.stack([(out[n] - log_meas[:, i]) ** 2 for i, n in enumerate(["P_core", "P_bw"])], -1).mean(dim=(1, 2))

    sur = ctx.surrogate(nets)
    prob = search_problem(ctx, sur, torch.arange(len(nets))[None, :], {}, loss, 0)
    base = replace(ctx.config, screen=64, polish_keep=2, polish_rounds=2)
    plain = run(sur, prob, base)["loss"].min()
    more = run(sur, prob, replace(base, polish_per_combo=True, hops=3, hop_keep=2, hop_tries=3))
    assert more["loss"].min() <= plain + 1e-12
    assert len(more) > len(run(sur, prob, base))  # the hops' points joined the pool
