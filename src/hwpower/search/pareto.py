"""Pareto fronts: non-dominated filtering and sorting, hypervolume (2-D and 3-D), the knee point,
and the exact front of a hardware grid by sweeping the oracle over every grid point.

Every objective is minimized. The hypervolume is measured in *normalized* objective space:
``(f - ideal) / (nadir - ideal)`` with ``ideal``/``nadir`` given (the benchmark uses the exact
front's), and reference point ``REF = 1.1`` in every coordinate; points beyond it add nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .problem import OUTPUTS, Constraint

REF = 1.1  # reference point of the normalized hypervolume, every coordinate
AREA = "area_mm2"
OBJECTIVES = (*OUTPUTS, AREA)
UNITS = {"P": "W", "P_core": "W", "P_bw": "W", "latency_ms": "ms", "energy_mj": "mJ", AREA: "mm²"}


def parse_objectives(text: str | Sequence[str]) -> list[str]:
    """``"P,latency_ms,area_mm2"`` (or a list) into 2 or 3 distinct objective names."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    where = f"objectives {','.join(names)!r}"
    bad = [n for n in names if n not in OBJECTIVES]
    if bad:
        raise InputError(f"unknown objective(s) {bad}; expected names from {', '.join(OBJECTIVES)}", where=where)
    if len(set(names)) != len(names) or not 2 <= len(names) <= 3:
        raise InputError("give 2 or 3 distinct objectives, e.g. P,latency_ms,area_mm2", where=where)
    return names


def nondominated(F: np.ndarray, margin: float | Sequence[float] = 0.0) -> np.ndarray:
    """Mask of the points of ``F`` (N, 2 or 3) that no other point dominates (minimization).

    Point j is dropped when a point i before it (lexicographic order) has ``F[i] + margin <= F[j]``
    in every coordinate: with ``margin = 0`` this removes the dominated points and all but one of
    equal points; a positive ``margin`` keeps points dominated by less than it (an uncertainty band).
    A sweep over the first coordinate with a 2-D staircase of the others: O(N log N) comparisons.
    """
    F = np.asarray(F, dtype=float)
    if F.ndim != 2 or F.shape[1] not in (2, 3):
        raise ValueError(f"nondominated needs an (N, 2) or (N, 3) array, got shape {F.shape}")
    d = F.shape[1]
    shift = np.broadcast_to(np.asarray(margin, dtype=float), (d,))
    G = F if d == 3 else np.column_stack([F, np.zeros(len(F))])
    shift = shift if d == 3 else np.append(shift, 0.0)
    order = np.lexsort(G.T[::-1])
    S = G[order].tolist()
    keep = np.zeros(len(S), dtype=bool)
    stair = _Staircase()
    p = 0
    for j, (f0, f1, f2) in enumerate(S):
        while p < j and S[p][0] + shift[0] <= f0:  # earlier points now ahead by the margin in f0
            if keep[p]:
                stair.add(S[p][1] + shift[1], S[p][2] + shift[2])
            p += 1
        keep[j] = not stair.covers(f1, f2)
    mask = np.zeros(len(S), dtype=bool)
    mask[order] = keep
    return mask


class _Staircase:
    """Non-dominated (a, b) pairs, a ascending and b descending; ``covers(x, y)``: some a <= x, b <= y."""

    def __init__(self) -> None:
        self.a: list[float] = []
        self.b: list[float] = []

    def covers(self, x: float, y: float) -> bool:
        k = bisect.bisect_right(self.a, x) - 1
        return k >= 0 and self.b[k] <= y

    def add(self, x: float, y: float) -> None:
        if self.covers(x, y):
            return
        k = bisect.bisect_left(self.a, x)
        end = k
        while end < len(self.a) and self.b[end] >= y:
            end += 1
        self.a[k:end] = [x]
        self.b[k:end] = [y]


def nondominated_rank(F: np.ndarray, max_rank: int | None = None, enough: int | None = None) -> np.ndarray:
    """Front number of each point (0 = non-dominated, 1 = non-dominated once front 0 is removed ...;
    of equal points one per front). Unranked (``-1``): points beyond ``max_rank``, or left once
    ``enough`` points are ranked."""
    rank = np.full(len(F), -1)
    left = np.arange(len(F))
    r = 0
    while len(left) and (max_rank is None or r <= max_rank) and (enough is None or (rank >= 0).sum() < enough):
        m = nondominated(F[left])
        rank[left[m]] = r
        left = left[~m]
        r += 1
    return rank


def normalize(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """``(F - ideal) / (nadir - ideal)`` per coordinate (span 1 where nadir == ideal)."""
    span = np.where(np.asarray(nadir) > np.asarray(ideal), np.asarray(nadir) - np.asarray(ideal), 1.0)
    return (np.asarray(F, dtype=float) - ideal) / span


def hypervolume(F: np.ndarray, ref: float | Sequence[float] = REF) -> float:
    """Volume dominated by the points ``F`` (N, 2 or 3) and bounded by ``ref`` (minimization)."""
    F = np.asarray(F, dtype=float)
    ref = np.broadcast_to(np.asarray(ref, dtype=float), (F.shape[1],))
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    if F.shape[1] == 2:
        return _hv2(F, ref)
    if F.shape[1] != 3:
        raise ValueError(f"hypervolume is implemented for 2 or 3 objectives, got {F.shape[1]}")
    F = F[np.argsort(F[:, 2], kind="stable")]
    levels = np.append(F[:, 2], ref[2])
    total = 0.0
    for i in range(len(F)):  # slab between the i-th and the next third coordinate
        depth = levels[i + 1] - levels[i]
        if depth > 0:
            total += depth * _hv2(F[: i + 1, :2], ref[:2])
    return float(total)


def _hv2(F: np.ndarray, ref: np.ndarray) -> float:
    F = F[np.lexsort((F[:, 1], F[:, 0]))]
    best = np.minimum.accumulate(F[:, 1])
    step = np.flatnonzero(np.r_[True, best[1:] < best[:-1]])  # points that lower the staircase
    x, y = F[step, 0], best[step]
    widths = np.diff(np.append(x, ref[0]))
    return float(np.sum(widths * (ref[1] - y)))


def knee(F: np.ndarray) -> int:
    """Index of the knee point: nearest to the ideal point in the front's own normalized space."""
    F = np.asarray(F, dtype=float)
    Z = normalize(F, F.min(axis=0), F.max(axis=0))
    return int(np.argmin(np.linalg.norm(Z, axis=1)))


def objective_values(values: pd.DataFrame, objectives: Sequence[str], weights: np.ndarray, n: int, m: int,
                     area: np.ndarray) -> np.ndarray:
    """(n, k) objective matrix: weighted sums over the ``m`` networks of each output, exact area."""
    cols = []
    for name in objectives:
        if name == AREA:
            cols.append(np.asarray(area, dtype=float).reshape(n))
        else:
            cols.append((values[name].to_numpy(dtype=float).reshape(n, m) * weights[None]).sum(axis=1))
    return np.stack(cols, axis=1)


def feasible(values: pd.DataFrame, constraints: Sequence[Constraint], n: int, m: int, area: np.ndarray,
             rtol: float = 0.0) -> np.ndarray:
    """Whether each of ``n`` configurations meets every constraint on all ``m`` networks."""
    ok = np.ones(n, dtype=bool)
    for c in constraints:
        v = np.asarray(area, float).reshape(n, 1) if c.output == AREA else values[c.output].to_numpy(float).reshape(n, m)
        ok &= c.satisfied(v, rtol).all(axis=1)
    return ok


def exact_front(oracle: Any, space: Any, nets: Sequence[Any], objectives: Sequence[str], *,
                weights: Sequence[float] | None = None, constraints: Sequence[Constraint] = (),
                fixed: dict | None = None) -> pd.DataFrame:
    """The true Pareto front over every grid point of ``space`` (one oracle sweep per network).

    Returns the front's hardware rows with one column per objective, sorted by the first one.
    """
    grid = space.grid_frame()
    for name, value in (fixed or {}).items():
        grid = grid[grid[name].astype(str) == str(value)]
    grid = grid.reset_index(drop=True)
    w = np.asarray(weights if weights is not None else [1.0] * len(nets), dtype=float)
    outs = [oracle.evaluate(net, grid).reset_index(drop=True) for net in nets]
    n, m = len(grid), len(nets)
    values = pd.DataFrame({c: np.stack([o[c].to_numpy(float) for o in outs], axis=1).reshape(-1)
                           for c in outs[0].columns})
    area = outs[0][AREA].to_numpy(float)
    ok = feasible(values, constraints, n, m, area)
    F = objective_values(values, objectives, w, n, m, area)[ok]
    front = grid[ok].reset_index(drop=True)
    mask = nondominated(F)
    front = front[mask].reset_index(drop=True)
    for j, name in enumerate(objectives):
        front[name] = F[mask, j]
    return front.sort_values(list(objectives)).reset_index(drop=True)


def hv_select(F: np.ndarray, k: int, *, ref: float = REF, samples: int = 20000, seed: int = 0,
              covered: np.ndarray | None = None) -> np.ndarray:
    """Indices of up to ``k`` points of ``F`` (N, d), normalized, chosen greedily for hypervolume.

    The hypervolume is estimated on ``samples`` seeded uniform points of ``[min F, ref]^d``: each
    step takes the point that dominates the most sample points not dominated yet (lazy greedy: the
    gain only shrinks as points are taken, so a stale gain is an upper bound). ``covered`` (M, d):
    points already held (e.g. verified ones), whose dominated samples count for nothing. The order
    of the result is the order of choice; points that add nothing are not chosen.
    """
    F = np.asarray(F, dtype=float)
    if len(F) == 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    low = F.min(axis=0) if covered is None or not len(covered) else np.minimum(F.min(axis=0), np.asarray(covered).min(axis=0))
    X = low + rng.random((samples, F.shape[1])) * (ref - low)
    free = np.ones(samples, dtype=bool)
    if covered is not None:
        for c in np.asarray(covered, dtype=float):
            free &= ~np.all(c <= X, axis=1)
    dom = F[:, None, 0] <= X[None, :, 0]  # (N, samples): point i dominates sample s
    for j in range(1, F.shape[1]):
        dom &= F[:, None, j] <= X[None, :, j]
    gain = (dom & free).sum(axis=1).astype(np.int64)
    order: list[int] = []
    while len(order) < k:
        i = int(np.argmax(gain))
        if gain[i] <= 0:
            break
        fresh = int(np.count_nonzero(dom[i] & free))  # the stored gain is stale once others were taken
        gain[i] = fresh
        if fresh < gain.max():
            continue
        if fresh <= 0:
            break
        order.append(i)
        free &= ~dom[i]
        gain[i] = -1
    return np.array(order, dtype=np.int64)
