"""Design under binding constraints (margin, verification, local search on the truth, area budgets,
always top_k) and the slow truth (delay per call on a simulated or real clock, replayable traces)."""

import time

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.search import design, parse_constraint
from hwpower.search.blackbox import BASELINES, DesignTask, exhaustive
from hwpower.search.problem import parse_objective
from hwpower.search.tasks import design_margin
from hwpower.search.truth import Clock, SlowTruth, best_within

from .conftest import SPACE, FakeOracle


class AreaOracle(FakeOracle):
    """The stand-in oracle with an exact chip area (PEs, buffer and DRAM interface)."""

    def area_mm2(self, hw):
        return (0.01 * hw.pe_rows * hw.pe_cols * np.where(hw.bits == 16, 2.5, 1.0) + 0.004 * hw.glb_kib
                + 0.05 * hw.dram_gbps).to_numpy(float)

    def evaluate_many(self, nets, net_index, hw):
        out = super().evaluate_many(nets, net_index, hw)
        out["area_mm2"] = self.area_mm2(hw)
        return out


def _tight(net, share):
    """The latency limit met by the fastest ``share`` of the grid."""
    lat = FakeOracle().evaluate(net, SPACE.grid_frame())["latency_ms"].to_numpy()
    return float(np.quantile(lat, share))


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_binding_latency_reaches_exhaustive_optimum_and_rank1_is_feasible(ctx, nets, share):
    cons = [parse_constraint(f"latency_ms<={_tight(nets[1], share)}")]
    res = design(ctx, [nets[1]], objective="P", constraints=cons, top_k=8, verify=True)
    opt = exhaustive(DesignTask([nets[1]], parse_objective("P"), cons), FakeOracle(), SPACE).best_objective
    c = res.candidates
    assert len(c) == 8 and c["oracle_feasible"].iloc[0]
    assert res.meta["best_oracle_objective"] == pytest.approx(opt, rel=1e-6)  # the local search ends on it
    ok = c[c.oracle_feasible]
    assert list(ok["oracle_objective"]) == sorted(ok["oracle_objective"])  # re-ranked by verified values


def test_area_budget_is_honoured_exactly(ctx, nets):
    ctx.oracle = AreaOracle()
    area = ctx.oracle.area_mm2(SPACE.grid_frame())
    budget = float(np.quantile(area, 0.1))
    cons = [parse_constraint(f"area_mm2<={budget}"), parse_constraint(f"latency_ms<={_tight(nets[0], 0.3)}")]
    res = design(ctx, [nets[0]], objective="P", constraints=cons, verify=True)
    opt = exhaustive(DesignTask([nets[0]], parse_objective("P"), cons), AreaOracle(), SPACE).best_objective
    c = res.candidates
    assert np.isfinite(opt) and res.meta["best_oracle_objective"] <= opt * 1.01
    assert (c["area_mm2"].to_numpy() == pytest.approx(ctx.oracle.area_mm2(c))) and c["oracle_feasible"].iloc[0]
    unverified = design(ctx, [nets[0]], objective="P", constraints=cons[:1])
    assert (unverified.candidates["area_mm2"] <= budget).all() and len(unverified.candidates) == 8


def test_design_returns_top_k_or_says_why(ctx, nets):
    fixed = {"pe_rows": 8, "pe_cols": 8, "glb_kib": 64, "dram_gbps": 8, "bits": 8}  # 5 clocks x 2 dataflows
    res = design(ctx, [nets[0]], objective="P", fixed=fixed, top_k=12)
    assert len(res.candidates) == 10 and "only 10 candidate configurations" in res.meta["note"]
    many = design(ctx, [nets[0]], objective="P", constraints=[parse_constraint("latency_ms<=1e-6")], top_k=12, verify=True)
    assert len(many.candidates) == 12 and not many.candidates["oracle_feasible"].any()
    assert many.meta["best"] is None and many.meta["binding_constraint"].startswith("latency_ms<=")


def test_margin_comes_from_calibration_and_ranks_sure_candidates_first(ctx, nets):
    class Cal:
        scores = {"latency_ms": [0.05] * 30, "P_core": [0.01] * 30, "P_bw": [0.02] * 30}

        def log_half_width(self, target, level):
            return float(np.quantile(self.scores[target], level))

    ctx.predictor.calibration = Cal()
    cons = [parse_constraint("latency_ms<=20"), parse_constraint("P<=5")]
    assert design_margin(ctx, cons) == pytest.approx(np.expm1(0.05))
    assert design_margin(ctx, cons[1:]) == pytest.approx(np.expm1(0.02))  # P: the wider of P_core, P_bw
    res = design(ctx, [nets[1]], objective="P", constraints=cons[:1])
    assert res.meta["margin"] == pytest.approx(np.expm1(0.05)) and res.candidates["pred_feasible_margin"].iloc[0]
    with pytest.raises(InputError, match="margin must be >= 0"):
        design(ctx, [nets[1]], constraints=cons, margin=-0.1)


def test_truth_calls_bound_verification_and_trace_is_replayable(ctx, nets):
    cons = [parse_constraint(f"latency_ms<={_tight(nets[1], 0.1)}")]
    res = design(ctx, [nets[0], nets[1]], objective="P", constraints=cons, verify=True, verify_k=10, truth_calls=60)
    trace = np.array(res.meta["truth_trace"])
    assert res.meta["oracle_calls"] == trace[-1, 1] <= 60 and res.meta["n_verified"] == 30
    assert np.all(np.diff(trace[:, 0]) >= 0) and np.all(np.diff(trace[:, 1]) == 2)
    assert best_within(trace, 1e9, 0.0) == pytest.approx(res.meta["best_oracle_objective"])


def test_slow_truth_charges_delay_on_a_simulated_clock(nets):
    truth = SlowTruth(FakeOracle(), seconds_per_call=2.0)
    t0, real0 = truth.now(), time.perf_counter()
    truth.evaluate(nets[0], SPACE.grid_frame().head(5))
    assert truth.calls == 5 and truth.now() - t0 == pytest.approx(10.0, abs=0.5)
    assert time.perf_counter() - real0 < 1.0  # no sleeping
    real = SlowTruth(FakeOracle(), 0.01, Clock(simulated=False))
    real0 = time.perf_counter()
    real.evaluate(nets[0], SPACE.grid_frame().head(5))
    assert time.perf_counter() - real0 >= 0.05
    with pytest.raises(InputError, match="seconds per truth call"):
        SlowTruth(FakeOracle(), -1.0)


def test_direct_search_on_a_slow_truth_stops_at_the_wall_time_and_matches_its_replay(nets):
    task = DesignTask(nets[:1], parse_objective("P"), [parse_constraint(f"latency_ms<={_tight(nets[0], 0.2)}")])
    slow = BASELINES["random"](task, SlowTruth(FakeOracle(), 0.5), SPACE, budget=10**9, wall_s=20.0, seed=2, chunk=16)
    assert slow.oracle_calls == 39  # 20 s at 0.5 s per call, less the compute time: not 40
    fast = BASELINES["random"](task, FakeOracle(), SPACE, budget=16 * 10, seed=2, chunk=16)
    assert best_within(fast.trace, 20.0, 0.5) == pytest.approx(slow.best_objective)
    assert fast.trace[:, 1].tolist() == list(range(1, 161))


def test_slow_truth_wraps_the_oracle_interface(nets):
    frame = pd.DataFrame([dict(pe_rows=8, pe_cols=8, glb_kib=64, dram_gbps=8, freq_mhz=400, bits=8, dataflow="ws")] * 2)
    a = SlowTruth(FakeOracle(), 0.0).evaluate_many(nets[:2], np.array([0, 1]), frame)
    pd.testing.assert_frame_equal(a, FakeOracle().evaluate_many(nets[:2], np.array([0, 1]), frame))


def test_kicks_move_two_to_four_parameters_within_three_steps():
    from hwpower.search.refine import kicks

    index, sizes = np.array([2, 2, 4, 3, 5]), [4, 4, 9, 7, 10]
    cand, cc = kicks(index, 0, sizes, np.array([True, False, True]), 500, np.random.default_rng(0))
    moved = (cand != index).sum(1)
    assert moved.max() <= 4 and np.abs(cand - index).max() <= 3
    assert (cand >= 0).all() and (cand < np.array(sizes)).all()
    assert set(cc) == {0, 2} and 0.1 < (cc != 0).mean() < 0.25  # a quarter redraw among the allowed ones


def test_correction_takes_the_nearest_verified_point_of_the_same_combination():
    from hwpower.search.refine import Spec, TruthLog, correction

    spec = Spec(np.ones(1), parse_objective("P"), [], ["P"])
    log = TruthLog([None], spec, 0.0)
    log.index, log.combo = [np.array([[0, 0], [9, 9]])], [np.array([0, 1])]
    log.ratios = [{"P": np.array([[1.1], [0.8]])}]
    scale = correction(log, [10, 10], np.array([[1, 1], [1, 1], [8, 8]]), np.array([0, 1, 0]))
    assert scale["P"][:, 0].tolist() == [1.1, 0.8, 1.1]  # the far point of its own combination wins


def test_recover_verify_searches_the_truth_until_the_target_is_met(ctx, nets):
    from hwpower.search import RecoverQuery, recover

    target = float(FakeOracle().evaluate(nets[1], pd.DataFrame([dict(pe_rows=16, pe_cols=8, glb_kib=256, dram_gbps=16,
                                                                          freq_mhz=400, bits=16, dataflow="os")]))["P"][0])
    res = recover(ctx, [RecoverQuery(nets[1], {"P": target}, "a")], top_k=3, verify=True)
    errs = res.candidates["oracle_err_P_pct"].abs().to_numpy()
    assert errs[0] <= 0.5 and list(errs) == sorted(errs) and 3 <= res.meta["oracle_calls"] <= 64
