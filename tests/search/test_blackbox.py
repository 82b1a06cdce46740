import numpy as np
import pytest

from hwpower.search import parse_constraint, parse_objective
from hwpower.search.blackbox import BASELINES, DesignTask, exhaustive

from .conftest import SPACE, FakeOracle


class CountingOracle(FakeOracle):
    def __init__(self):
        self.calls = 0

    def evaluate_many(self, nets, net_index, hw):
        self.calls += len(hw)
        return super().evaluate_many(nets, net_index, hw)


@pytest.fixture
def task(nets):
    return DesignTask(nets[:2], parse_objective("P"), [parse_constraint("latency_ms<=20")], weights=[1.0, 0.5])


def test_exhaustive_is_the_true_optimum(task):
    oracle = CountingOracle()
    res = exhaustive(task, oracle, SPACE, chunk=1000)
    grid = SPACE.grid_frame()
    obj, ok, _ = task.evaluate(FakeOracle(), grid)
    assert res.best_objective == pytest.approx(obj[ok].min())
    assert res.oracle_calls == oracle.calls == 2 * len(grid)


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_baselines_respect_budget_and_return_feasible_points(method, task):
    oracle = CountingOracle()
    res = BASELINES[method](task, oracle, SPACE, budget=120, seed=1)
    assert res.method == method and res.oracle_calls == oracle.calls <= 120
    assert res.oracle_calls >= 100  # uses (nearly) all of its budget
    obj, ok, _ = task.evaluate(FakeOracle(), __import__("pandas").DataFrame([res.best]))
    assert ok[0] and obj[0] == pytest.approx(res.best_objective)


def test_baselines_are_seeded_and_honour_fixed_values(nets):
    task = DesignTask(nets[:1], parse_objective("energy_mj"), fixed={"bits": 16, "pe_rows": 8})
    a = BASELINES["cma-es"](task, FakeOracle(), SPACE, budget=60, seed=3)
    b = BASELINES["cma-es"](task, FakeOracle(), SPACE, budget=60, seed=3)
    assert a.best == b.best and a.best["bits"] == 16 and a.best["pe_rows"] == 8
    t = BASELINES["tpe"](task, FakeOracle(), SPACE, budget=20, seed=0)
    assert t.best["bits"] == 16


def test_wall_time_limit_stops_early(task):
    res = BASELINES["random"](task, FakeOracle(), SPACE, budget=10**9, wall_s=0.2, seed=0, chunk=64)
    assert res.oracle_calls < 10**9 and res.wall_s < 5
    assert np.isfinite(res.best_objective)
