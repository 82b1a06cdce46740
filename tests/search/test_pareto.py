"""Pareto tools (non-dominated filter and sort, hypervolume, knee, exact front) and the
multi-objective design on the stand-in predictor and oracle of conftest.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.search import design, parse_constraint
from hwpower.search.pareto import (exact_front, hv_select, hypervolume, knee, nondominated, nondominated_rank,
                                   normalize, parse_objectives)
from hwpower.search.pareto_design import design_front

from .conftest import FakeOracle


def _area(hw: pd.DataFrame) -> np.ndarray:
    pes = hw.pe_rows.to_numpy(float) * hw.pe_cols.to_numpy(float)
    return 0.01 * pes * (1 + (hw.bits.to_numpy() == 16)) + 0.005 * hw.glb_kib.to_numpy(float)


class AreaOracle(FakeOracle):
    """The stand-in oracle with an exact area, as the real oracle has."""

    def area_mm2(self, hw):
        return _area(hw)

    def evaluate(self, net, hw):
        return super().evaluate(net, hw).assign(area_mm2=_area(hw))


def _brute(F):
    return np.array([not any(np.all(F[i] <= F[j]) and (np.any(F[i] < F[j]) or i < j)
                             for i in range(len(F)) if i != j) for j in range(len(F))])


@pytest.mark.parametrize("d", [2, 3])
def test_nondominated_matches_brute_force_with_ties(d):
    rng = np.random.default_rng(d)
    F = rng.integers(0, 6, size=(400, d)).astype(float)  # many ties and duplicates
    assert np.array_equal(nondominated(F), _brute(F))


def test_margin_keeps_points_dominated_by_less_than_it():
    F = np.array([[1.0, 1.0], [1.02, 1.02], [1.5, 1.5]])
    assert nondominated(F).tolist() == [True, False, False]
    assert nondominated(F, margin=0.05).tolist() == [True, True, False]


def test_rank_peels_fronts():
    F = np.array([[0, 2], [1, 1], [2, 0], [1, 2], [2, 1], [2, 2], [2, 2]], dtype=float)
    assert nondominated_rank(F).tolist() == [0, 0, 0, 1, 1, 2, 3]
    assert nondominated_rank(F, enough=3).tolist() == [0, 0, 0, -1, -1, -1, -1]


def test_hypervolume_known_values_and_optuna_cross_check():
    assert hypervolume(np.array([[0.5, 0.5]]), 1.0) == pytest.approx(0.25)
    assert hypervolume(np.array([[0.0, 0.5], [0.5, 0.0]]), 1.0) == pytest.approx(0.75)
    assert hypervolume(np.array([[0.5, 0.5, 0.5]]), 1.0) == pytest.approx(0.125)
    assert hypervolume(np.array([[0.0, 0.0, 0.5], [0.5, 0.5, 0.0]]), 1.0) == pytest.approx(0.5 + 0.125)
    assert hypervolume(np.array([[2.0, 0.0]]), 1.0) == 0.0  # beyond the reference point
    from optuna._hypervolume import compute_hypervolume  # private, used only as a second opinion
    rng = np.random.default_rng(0)
    for d in (2, 3):
        F = rng.random((200, d))
        assert hypervolume(F, 1.1) == pytest.approx(compute_hypervolume(F, np.full(d, 1.1)), rel=1e-12)


def test_knee_and_normalize():
    F = np.array([[0.0, 10.0], [1.0, 1.0], [10.0, 0.0]])
    assert knee(F) == 1
    assert normalize(F, F.min(0), F.max(0))[1].tolist() == [0.1, 0.1]


def test_parse_objectives_errors():
    assert parse_objectives("P, latency_ms,area_mm2") == ["P", "latency_ms", "area_mm2"]
    with pytest.raises(InputError, match="unknown objective"):
        parse_objectives("P,latency")
    with pytest.raises(InputError, match="2 or 3 distinct"):
        parse_objectives("P")


def test_exact_front_is_the_brute_force_front(space, nets):
    front = exact_front(AreaOracle(), space, nets[:2], ["P", "latency_ms"], fixed={"bits": 8})
    grid = space.grid_frame()
    grid = grid[grid.bits == 8].reset_index(drop=True)
    orc = AreaOracle()
    F = sum(orc.evaluate(n, grid)[["P", "latency_ms"]].to_numpy() for n in nets[:2])
    true = F[_brute(F)]
    assert len(front) == len(true)
    assert np.allclose(np.sort(front[["P", "latency_ms"]].to_numpy(), axis=0), np.sort(true, axis=0))


@pytest.fixture
def actx(ctx):
    ctx.oracle = AreaOracle()
    return ctx


def test_design_front_is_verified_and_near_the_exact_front(actx, space, nets):
    objs = ["P", "latency_ms", "area_mm2"]
    r = design(actx, nets[:2], objectives=objs, budget=200, verify=True)
    assert r.meta["oracle_calls"] == 200 and len(r.candidates) == 100
    front = r.front
    truth = sum(AreaOracle().evaluate(n, front[list(r.hw_columns)]).reset_index(drop=True) for n in nets[:2])
    assert np.allclose(front["oracle_P"], truth["P"]) and np.allclose(front["oracle_latency_ms"], truth["latency_ms"])
    F = front[[f"oracle_{o}" for o in objs]].to_numpy()
    assert nondominated(F).all() and front["knee"].sum() == 1
    exact = exact_front(AreaOracle(), space, nets[:2], objs)
    E = exact[objs].to_numpy()
    lo, hi = E.min(0), E.max(0)
    ratio = hypervolume(normalize(F, lo, hi)) / hypervolume(normalize(E, lo, hi))
    assert 0.9 < ratio <= 1.0 + 1e-9


def test_design_front_says_which_constraint_binds(actx, nets):
    r = design(actx, nets[:2], objectives="P,latency_ms", constraints=[parse_constraint("latency_ms<=1e-6")],
               budget=20, verify=True)
    assert len(r.front) == 0 and r.meta["binding_constraint"].startswith("latency_ms<=1e-06")
    assert "no configuration meets the constraints in prediction" in r.meta["note"]


def test_scalar_design_returns_top_k_or_says_why(actx, nets):
    r = design(actx, nets[:1], objective="P", constraints=[parse_constraint("latency_ms<=1e-6")], top_k=6, verify=True)
    assert r.meta["best"] is None
    assert len(r.candidates) == 6 or r.meta["note"] == f"the search found only {len(r.candidates)} distinct configurations (asked for 6)"
    n = len(r.candidates)
    assert r.meta["binding_constraint"].startswith(f"latency_ms<=1e-06 (missed by {n} of {n} candidates")
    a = design(actx, nets[:1], constraints=[parse_constraint("area_mm2<=2")])  # area is exact in a scalar design too
    assert len(a.candidates) == 8 and (a.candidates["area_mm2"] <= 2).all()


def test_front_figure_has_labelled_axes(actx, nets):
    from hwpower.report.pareto import front_figure
    r = design(actx, nets[:1], objectives=["P", "latency_ms", "area_mm2"], budget=60, verify=True)
    fig = front_figure(r.candidates, ["P", "latency_ms", "area_mm2"])
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels == [("power P (W)", "latency (ms)"), ("power P (W)", "chip area (mm²)"), ("latency (ms)", "chip area (mm²)")]
    assert [ax.get_title() for ax in fig.axes] == ["latency vs power P", "chip area vs power P", "chip area vs latency"]


def test_report_section_from_a_saved_design(actx, nets):
    from hwpower.report.pareto import pareto_section
    r = design(actx, nets[:1], objectives=["P", "area_mm2"], budget=40, verify=True)
    section = pareto_section({"pareto": r.to_dict(), "other": {"task": "recover", "candidates": []}})
    assert section.omitted is None and [type(i).__name__ for i in section.items] == ["FigureItem", "TableItem"]
    assert len(section.items[1].table) == len(r.front) > 0
    assert pareto_section({}).omitted.startswith("no multi-objective design")


def test_hv_select_takes_the_largest_contribution_first_and_skips_what_adds_nothing():
    F = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    order = hv_select(F, 4)
    assert order[0] == 1 and sorted(order) == [0, 1, 2]  # (0.5, 0.5) dominates 0.36 of the box, the ends 0.11; the copy adds 0
    assert sorted(hv_select(F, 4, covered=F[[1]])) == [0, 2]
    t = np.linspace(0, 1, 400)
    G = np.column_stack([t, (1 - np.sqrt(t)) ** 2])  # a dense convex front
    pick = hv_select(G, 20, samples=40000)
    every20 = np.arange(0, 400, 20)
    assert len(pick) == 20 and hypervolume(G[pick]) > hypervolume(G[every20])


def test_sequential_front_spends_the_budget_and_beats_the_one_shot_selection(actx, space, nets):
    objs = ["P", "latency_ms", "area_mm2"]
    exact = exact_front(AreaOracle(), space, nets[:1], objs)[objs].to_numpy()
    lo, hi = np.log(exact).min(0), np.log(exact).max(0)

    def ratio(r):
        F = np.log(r.front[[f"oracle_{o}" for o in objs]].to_numpy())
        return hypervolume(normalize(F, lo, hi)) / hypervolume(normalize(np.log(exact), lo, hi))

    seq = design_front(actx, nets[:1], objs, budget=60, verify=True)
    one = design_front(actx, nets[:1], objs, budget=60, verify=True, sequential=False)
    assert seq.meta["selection"] == "sequential" and one.meta["selection"] == "ranks"
    assert seq.meta["oracle_calls"] == 60 and len(seq.candidates) == 60
    assert not seq.candidates[list(seq.hw_columns)].duplicated().any()
    assert ratio(seq) > ratio(one) + 0.01 and ratio(seq) > 0.97, (ratio(seq), ratio(one))  # 0.982 vs 0.949 when written
