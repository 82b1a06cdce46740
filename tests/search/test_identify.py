"""identify's truth refinement and the exhaustive answer set, on the stand-in predictor and oracle.

The stand-in physics sees the array only through ``pe_rows * pe_cols``: a hidden 16 x 8 array has
exactly three look-alikes (8 x 16, 4 x 32, 32 x 4), which the answer set must list and nothing else."""

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.search import identify
from hwpower.search.identify import TruthFit, answer_set

from .conftest import FakeOracle
from .test_tasks import HIDDEN


@pytest.fixture(scope="module")
def measured(nets):
    hw = pd.concat([HIDDEN] * len(nets), ignore_index=True)
    return FakeOracle().evaluate_many(nets, np.arange(len(nets)), hw)[["P_core", "P_bw"]]


def test_answer_set_is_the_hidden_configuration_and_its_look_alikes(space, nets, measured):
    ans = answer_set(FakeOracle(), space, nets, measured, tol_pct=0.01)
    assert sorted(zip(ans.pe_rows, ans.pe_cols)) == [(4, 32), (8, 16), (16, 8), (32, 4)]
    for name in ("glb_kib", "dram_gbps", "freq_mhz", "bits", "dataflow"):
        assert (ans[name].astype(str) == str(HIDDEN.iloc[0][name])).all(), name
    assert ans.oracle_max_err_pct.max() < 1e-9
    wide = answer_set(FakeOracle(), space, nets, measured, tol_pct=5.0)  # a looser tolerance only adds
    assert len(wide) > len(ans)
    fixed = answer_set(FakeOracle(), space, nets, measured, tol_pct=0.01, fixed={"pe_rows": 16})
    assert list(zip(fixed.pe_rows, fixed.pe_cols)) == [(16, 8)]


def test_identify_with_truth_refinement_reproduces_exactly_within_budget(ctx, nets, measured):
    res = identify(ctx, nets, measured, verify=True, top_k=6, truth_budget=20000)
    c = res.candidates
    assert c.oracle_max_err_pct.iloc[0] < 1e-6  # the truth's local search lands on a grid point that fits exactly
    assert c.oracle_max_err_pct.is_monotonic_increasing
    assert 0 < res.meta["oracle_calls"] <= 20000 and res.meta["surrogate_effort"] == "light"
    exact = c[c.oracle_max_err_pct < 1e-6]
    assert set(exact.pe_rows * exact.pe_cols) == {128} and len(exact) == 4  # all four look-alikes found
    spread = res.tables["spread"].set_index("parameter")
    assert spread.loc["pe_rows", "n_values"] == 4 and spread.loc["freq_mhz", "determined"]


def test_truth_local_search_alone_walks_to_the_answer(ctx, nets, measured):
    fit = TruthFit(ctx, nets, measured, {})
    start = HIDDEN.assign(pe_rows=4, pe_cols=4, freq_mhz=200, glb_kib=512, dataflow="os")
    seen = fit.refine(start, budget=20000, goal_pct=0.5)
    assert seen.oracle_max_err_pct.iloc[0] < 1e-6
    assert fit.calls == len(seen) * len(nets) <= 20000  # every configuration costs one call per network, once
    tiny = TruthFit(ctx, nets, measured, {})
    tiny.refine(start, budget=3 * len(nets))
    assert tiny.calls <= 3 * len(nets)


def test_identify_bad_input_is_a_clear_error(ctx, nets, measured):
    with pytest.raises(InputError, match="surrogate_effort must be 'full' or 'light'"):
        identify(ctx, nets, measured, surrogate_effort="max")
    with pytest.raises(InputError, match="one row of measured outputs per network"):
        answer_set(FakeOracle(), ctx.space, nets[:2], measured)
