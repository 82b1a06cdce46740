"""Black-box baselines that search the hardware grid directly on the oracle — random search,
CMA-ES (``cmaes.CMAwM``, integer grid indices) and Optuna's TPE — with a budget of oracle calls and
a wall-time limit, plus the exhaustive grid search that gives the true optimum of a design query.

All of them minimize the same penalized design loss as the predictor-based search (log objective
plus squared log constraint violations), and report the best *feasible* configuration found. The
wall-time limit is read from the truth's clock (:mod:`.truth`: a slow truth charges its delay per
call), and ``result.trace`` records every configuration evaluated (compute seconds so far, calls so
far, its objective or ``inf`` when infeasible), so a run can be replayed at any delay per call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from cmaes import CMAwM
from rich.progress import Progress

from ..errors import InputError
from .problem import Constraint, Objective
from .truth import clock_of, seconds_per_call

log = logging.getLogger(__name__)

PENALTY = 1000.0


@dataclass(frozen=True)
class DesignTask:
    """A design query on the oracle: networks with weights, objective, constraints, fixed values."""

    nets: Sequence[Any]
    objective: Objective
    constraints: Sequence[Constraint] = ()
    weights: Sequence[float] | None = None
    fixed: dict[str, Any] | None = None

    def evaluate(self, oracle: Any, hw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(objective, feasible, penalized loss) per hardware row; ``len(hw) * len(nets)`` oracle calls."""
        M, N = len(self.nets), len(hw)
        w = np.asarray(self.weights if self.weights is not None else [1.0] * M, dtype=float)
        rows = hw.iloc[np.repeat(np.arange(N), M)].reset_index(drop=True)
        out = oracle.evaluate_many(list(self.nets), np.tile(np.arange(M), N), rows)
        obj = sum(c * (out[n].to_numpy().reshape(N, M) * w).sum(axis=1) for n, c in self.objective.weights.items())
        viol = np.zeros(N)
        feasible = np.ones(N, dtype=bool)
        for c in self.constraints:
            v = out[c.output].to_numpy().reshape(N, M)
            gap = np.log(v / c.limit) * (1 if c.op == "<=" else -1)
            viol += (np.maximum(gap, 0) ** 2).sum(axis=1)
            feasible &= c.satisfied(v).all(axis=1)
        return obj, feasible, np.log(obj) + PENALTY * viol


@dataclass
class BlackBoxResult:
    method: str
    best: dict[str, Any] | None  # best feasible configuration found (None if none)
    best_objective: float  # its oracle objective (nan if none)
    oracle_calls: int
    wall_s: float
    trace: np.ndarray | None = None  # (N, 3): compute s, calls, objective (inf if infeasible) per configuration

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "best": self.best, "best_objective": self.best_objective,
                "oracle_calls": self.oracle_calls, "wall_s": round(self.wall_s, 4)}


class _Tracker:
    """Counts oracle calls, keeps the best feasible point, stops at the budget or the wall limit."""

    def __init__(self, task: DesignTask, oracle: Any, space: Any, budget: int, wall_s: float | None):
        self.task, self.oracle, self.space = task, oracle, space
        self.budget, self.wall_s = budget, wall_s
        self.now, self.delay = clock_of(oracle), seconds_per_call(oracle)
        self.calls, self.t0, self.real0 = 0, self.now(), time.perf_counter()
        self.best, self.best_obj = None, float("inf")
        self.trace: list[np.ndarray] = []
        self.params = list(space.params)
        fixed = task.fixed or {}
        self.choices = [np.array([fixed[p.name]] if p.name in fixed else p.grid, dtype=object) for p in self.params]
        self.sizes = np.array([len(c) for c in self.choices])

    @property
    def left(self) -> int:
        """Configurations that still fit the budget (each costs one call per network) and, with a
        slow truth and a wall limit, the time left."""
        n = (self.budget - self.calls) // len(self.task.nets)
        if self.wall_s is not None and self.delay > 0:
            n = min(n, int(max(self.wall_s - (self.now() - self.t0), 0.0) // (self.delay * len(self.task.nets))))
        return n

    def out_of_time(self) -> bool:
        return self.wall_s is not None and self.now() - self.t0 >= self.wall_s

    def frame(self, index: np.ndarray) -> pd.DataFrame:
        cols = {p.name: c[index[:, j]] for j, (p, c) in enumerate(zip(self.params, self.choices))}
        df = pd.DataFrame(cols)
        for p in self.params:
            if p.kind != "categorical":
                df[p.name] = df[p.name].astype(np.int64 if p.kind == "int" else np.float64)
        return df

    def __call__(self, index: np.ndarray) -> np.ndarray:
        """Penalized loss of grid-index rows (N, D), truncated to the budget."""
        index = np.asarray(index, dtype=np.int64)[: max(self.left, 0)]
        if len(index) == 0:
            return np.empty(0)
        hw = self.frame(index)
        before, real0 = self.calls, time.perf_counter()
        obj, ok, loss = self.task.evaluate(self.oracle, hw)
        self.calls += len(hw) * len(self.task.nets)
        self._record(before, real0, obj, ok)
        if ok.any():
            i = int(np.flatnonzero(ok)[np.argmin(obj[ok])])
            if obj[i] < self.best_obj:
                self.best, self.best_obj = hw.iloc[i].to_dict(), float(obj[i])
        return loss

    def _record(self, calls_before: int, real_start: float, obj: np.ndarray, ok: np.ndarray) -> None:
        """Trace rows of one batch: configuration k of n is done at the batch's start plus (k+1)/n of
        its compute time (the truth's delay is not included: replays add ``calls * delay``)."""
        n, M = len(obj), len(self.task.nets)
        k = np.arange(1, n + 1)
        start, spent = real_start - self.real0, time.perf_counter() - real_start
        self.trace.append(np.stack([start + spent * k / n, calls_before + M * k, np.where(ok, obj, np.inf)], 1))

    def result(self, method: str) -> BlackBoxResult:
        trace = np.concatenate(self.trace) if self.trace else np.empty((0, 3))
        return BlackBoxResult(method, self.best, self.best_obj if self.best else float("nan"), self.calls,
                              self.now() - self.t0, trace)


def random_search(task: DesignTask, oracle: Any, space: Any, budget: int, wall_s: float | None = None,
                  seed: int = 0, chunk: int = 256) -> BlackBoxResult:
    """Uniform grid points, evaluated in chunks until the budget or the wall time runs out."""
    tr = _Tracker(task, oracle, space, budget, wall_s)
    rng = np.random.default_rng(seed)
    while tr.left > 0 and not tr.out_of_time():
        n = min(chunk, tr.left)
        tr(rng.integers(0, tr.sizes, size=(n, len(tr.sizes))))
    return tr.result("random")


def cma_es(task: DesignTask, oracle: Any, space: Any, budget: int, wall_s: float | None = None,
           seed: int = 0) -> BlackBoxResult:
    """CMA-ES with margin (integer grid indices, categoricals as indices too), restarted when it converges."""
    tr = _Tracker(task, oracle, space, budget, wall_s)
    free = tr.sizes > 1
    if not free.any():
        tr(np.zeros((1, len(tr.sizes)), dtype=np.int64))
        return tr.result("cma-es")
    hi = (tr.sizes[free] - 1).astype(float)
    bounds = np.stack([np.zeros_like(hi), hi], axis=1)
    restart = 0
    while tr.left > 0 and not tr.out_of_time():
        opt = CMAwM(mean=hi / 2, sigma=max(hi.max() / 3, 0.5), bounds=bounds, steps=np.ones_like(hi), seed=seed + restart)
        while tr.left > 0 and not tr.out_of_time() and not opt.should_stop():
            pairs = [opt.ask() for _ in range(opt.population_size)]
            index = np.zeros((len(pairs), len(tr.sizes)), dtype=np.int64)
            index[:, free] = np.rint([p[0] for p in pairs]).astype(np.int64)
            loss = tr(index)
            if len(loss) < len(pairs):
                break  # budget exhausted mid-generation
            opt.tell([(p[1], float(v)) for p, v in zip(pairs, loss)])
        restart += 1
    return tr.result("cma-es")


def tpe(task: DesignTask, oracle: Any, space: Any, budget: int, wall_s: float | None = None,
        seed: int = 0) -> BlackBoxResult:
    """Optuna's TPE: ordered grid indices for numeric parameters, categorical distributions for the rest."""
    tr = _Tracker(task, oracle, space, budget, wall_s)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: optuna.Trial) -> float:
        idx = []
        for p, c in zip(tr.params, tr.choices):
            if p.kind == "categorical":
                idx.append(list(c).index(trial.suggest_categorical(p.name, list(c))))
            else:
                idx.append(trial.suggest_int(p.name, 0, len(c) - 1))
        return float(tr(np.array([idx]))[0])

    while tr.left > 0 and not tr.out_of_time():
        study.optimize(objective, n_trials=1)
    return tr.result("tpe")


BASELINES = {"random": random_search, "cma-es": cma_es, "tpe": tpe}


def exhaustive(task: DesignTask, oracle: Any, space: Any, chunk: int = 50_000, progress: bool = False) -> BlackBoxResult:
    """The true optimum of a design query: every grid point (honouring fixed values) on the oracle."""
    grid = space.grid_frame()
    for name, value in (task.fixed or {}).items():
        grid = grid[grid[name] == value]
    if grid.empty:
        raise InputError(f"no grid point matches the fixed values {task.fixed}")
    tr = _Tracker(task, oracle, space, budget=len(grid) * len(task.nets), wall_s=None)
    best, best_obj = None, float("inf")
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task("exhaustive grid search", total=len(grid))
        for start in range(0, len(grid), chunk):
            part = grid.iloc[start:start + chunk].reset_index(drop=True)
            obj, ok, _ = task.evaluate(oracle, part)
            tr.calls += len(part) * len(task.nets)
            if ok.any():
                i = int(np.flatnonzero(ok)[np.argmin(obj[ok])])
                if obj[i] < best_obj:
                    best, best_obj = part.iloc[i].to_dict(), float(obj[i])
            bar.advance(job, len(part))
    tr.best, tr.best_obj = best, best_obj
    return tr.result("exhaustive")
