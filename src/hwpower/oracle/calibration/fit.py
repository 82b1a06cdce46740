"""The oracle on each table point, the fit of per-node factors, and leave-one-out errors.

Fitting calls the oracle only while building each point's :class:`PointModel`: the dynamic energies
are linear in the ``logic``/``sram``/``wire`` multipliers and the leakage energy is leakage power x
latency, so one run per energy knob (each doubled, a finite difference that is exact for linear
terms) plus the latency and energies on a grid of ``cycles`` values (interpolated in log space)
give every figure for any factors. ``scipy.optimize.least_squares`` then fits the log ratios of
(power, throughput, energy per inference) to the published figures, bounded, with a weak pull of
each log factor towards 0 (the physics defaults) so that factors the data cannot see stay at 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ...errors import InputError
from ..model import Oracle
from ..settings import FittedTech, TechFactors
from .networks import workload
from .table import FIGURES, ChipPoint

FACTORS = TechFactors.names()  # logic, sram, wire, leakage, cycles
ENERGY_KNOBS = ("logic", "sram", "wire")
# Dynamic energies and throughput within 4x of the physics; leakage wider: static power is the least
# known constant (SRAM leakage spans 100-1000x with the cell type, CACTI 6.5) and TPU v1 idles at
# 28 W of its 40 W busy power (Jouppi et al., ISCA 2017, Table 2).
BOUNDS = {"logic": (0.25, 4.0), "sram": (0.25, 4.0), "wire": (0.25, 4.0), "leakage": (0.1, 100.0),
          "cycles": (0.25, 4.0)}
CYCLES_GRID = np.geomspace(BOUNDS["cycles"][0], BOUNDS["cycles"][1], 25)
# The pull of each log factor towards 0 (the physics), against 1 per log ratio of a published figure:
# keeps the factors the data cannot see near 1. Leakage's is half the others': static power is the
# least known constant (above), and where a chip's idle power is large (TPU v1: 28 W idle of 40 W
# busy per card, Jouppi et al. 2017, Table 2) leakage, not the MAC energy, is the term that carries it.
PRIOR_WEIGHT = {"logic": 0.2, "sram": 0.2, "wire": 0.2, "leakage": 0.1, "cycles": 0.2}
TOLERANCE = 0.25  # the target: every figure within +-25 %


def point_settings(p: ChipPoint, factors: TechFactors = TechFactors(), schedule: str | None = None):
    """The oracle settings of a point: its node, DRAM, the DVFS curve anchored at its clock, and how
    the chip ran the network (schedule, overlap, resident weights); ``schedule`` overrides the point's."""
    kwargs = {"dram": p.dram, "schedule": schedule or p.schedule, "overlap": p.overlap,
              "weights_resident": p.weights == "resident"}
    if p.v_nom is not None:
        kwargs.update(v_nom=p.v_nom, f_nom_mhz=p.freq_mhz)
    return factors.settings(p.node_nm, **kwargs)


def run_point(p: ChipPoint, factors: TechFactors = TechFactors(), schedule: str | None = None) -> dict[str, float]:
    """The real oracle on one point: latency (s), core and DRAM-side energy (J) per batch, area."""
    hw = pd.DataFrame({k: [v] for k, v in p.hardware.items()})
    try:
        out = Oracle(point_settings(p, factors, schedule)).evaluate(workload(p.network, p.batch), hw).iloc[0]
    except (InputError, ValueError) as exc:  # e.g. a clock the node's DVFS curve cannot reach
        where = f"line {p.line}" if p.line else None
        raise InputError(f"point {p.key!r}: {exc}", file=p.file or None, where=where) from None
    t = float(out["latency_ms"]) * 1e-3
    return {"latency_s": t, "e_core_j": float(out["P_core"]) * t, "e_bw_j": float(out["P_bw"]) * t,
            "area_mm2": float(out.get("area_mm2", np.nan))}


def figures(p: ChipPoint, latency_s: float, e_core_j: float, e_bw_j: float) -> dict[str, float]:
    """Power (what the point's power covers), throughput and energy per inference of one run."""
    energy = e_core_j + (e_bw_j if p.covers == "chip+dram" else 0.0)
    return {"power_w": energy / latency_s, "throughput_ips": p.batch / latency_s,
            "energy_mj": energy / p.batch * 1e3}


@dataclass(frozen=True)
class PointModel:
    """One point's figures as a function of the factors (see the module docstring)."""

    point: ChipPoint
    log_cycles: np.ndarray  # grid of log(cycles)
    log_latency: np.ndarray  # log latency (s) on the grid
    e_core: np.ndarray  # core energy (J) on the grid, physics-default energies
    e_bw: np.ndarray  # DRAM-side energy (J) on the grid
    dynamic: np.ndarray  # (3,) energy (J) of the logic, sram and wire terms at factor 1
    p_leak_w: float
    area_mm2: float

    @classmethod
    def build(cls, p: ChipPoint, grid: np.ndarray = CYCLES_GRID, schedule: str | None = None) -> PointModel:
        runs = [run_point(p, TechFactors(cycles=float(u)), schedule) for u in grid]
        base = run_point(p, TechFactors(), schedule)
        twice = [run_point(p, TechFactors(**{k: 2.0}), schedule)["e_core_j"] - base["e_core_j"]
                 for k in (*ENERGY_KNOBS, "leakage")]
        return cls(p, np.log(grid), np.log([r["latency_s"] for r in runs]), np.array([r["e_core_j"] for r in runs]),
                   np.array([r["e_bw_j"] for r in runs]), np.array(twice[:3]), twice[3] / base["latency_s"],
                   base["area_mm2"])

    def predict(self, f: TechFactors) -> dict[str, float]:
        lu = np.log(f.cycles)
        t = float(np.exp(np.interp(lu, self.log_cycles, self.log_latency)))
        e_core = float(np.interp(lu, self.log_cycles, self.e_core))
        e_core += float(np.dot([f.logic - 1, f.sram - 1, f.wire - 1], self.dynamic))
        e_core += (f.leakage - 1) * self.p_leak_w * t  # leakage energy = leakage power x latency
        return figures(self.point, t, e_core, float(np.interp(lu, self.log_cycles, self.e_bw)))

    def log_ratios(self, f: TechFactors) -> np.ndarray:
        pred = self.predict(f)
        return np.array([np.log(pred[k] / v) for k, v in self.point.figures.items()])


def build_models(points: Sequence[ChipPoint], schedule: str | None = None) -> list[PointModel]:
    return [PointModel.build(p, schedule=schedule) for p in points]


def _unpack(x: np.ndarray, nodes: list[int]) -> dict[int, TechFactors]:
    per = np.exp(x).reshape(len(nodes), len(FACTORS))
    return {n: TechFactors(**dict(zip(FACTORS, map(float, row), strict=True)))
            for n, row in zip(nodes, per, strict=True)}


def _prior(prior_weight: float | dict[str, float], n_nodes: int) -> np.ndarray:
    """Per-parameter prior weights: one weight for every factor, or a weight per factor name."""
    if isinstance(prior_weight, dict):
        unknown = sorted(set(prior_weight) - set(FACTORS))
        if unknown:
            raise ValueError(f"unknown factor(s) {unknown} in prior_weight (known: {list(FACTORS)})")
        return np.tile([float(prior_weight.get(k, PRIOR_WEIGHT[k])) for k in FACTORS], n_nodes)
    return np.full(n_nodes * len(FACTORS), float(prior_weight))


def fit_points(models: Sequence[PointModel], prior_weight: float | dict[str, float] = PRIOR_WEIGHT,
               bounds: dict[str, tuple[float, float]] = BOUNDS) -> FittedTech:
    """Per-node factors minimising the squared log ratios of every published figure (bounded);
    ``prior_weight``: the pull of each log factor towards 0, one for all or one per factor name."""
    if not models:
        raise ValueError("nothing to fit: no points")
    nodes = sorted({int(m.point.node_nm) for m in models})
    lo = np.tile([np.log(bounds[k][0]) for k in FACTORS], len(nodes))
    hi = np.tile([np.log(bounds[k][1]) for k in FACTORS], len(nodes))
    prior = _prior(prior_weight, len(nodes))

    def residuals(x: np.ndarray) -> np.ndarray:
        f = _unpack(x, nodes)
        data = [m.log_ratios(f[int(m.point.node_nm)]) for m in models]
        return np.concatenate([*data, prior * x])

    sol = least_squares(residuals, np.zeros(len(lo)), bounds=(lo, hi), x_scale=1.0, xtol=1e-10, ftol=1e-12)
    fit = {"points": [m.point.key for m in models], "bounds": {k: list(v) for k, v in bounds.items()},
           "prior_weight": prior_weight, "cost": float(sol.cost), "success": bool(sol.success)}
    return FittedTech(_unpack(sol.x, nodes), fit)


def leave_one_out(models: Sequence[PointModel], group: Callable[[ChipPoint], str] = lambda p: p.key,
                  prior_weight: float | dict[str, float] = PRIOR_WEIGHT) -> pd.DataFrame:
    """Refit without each group of points (a point, or a chip: ``group=lambda p: p.chip``) and predict
    it: one row per held-out point and figure, ``ratio`` = predicted / published."""
    rows = []
    for g in dict.fromkeys(group(m.point) for m in models):
        held = [m for m in models if group(m.point) == g]
        rest = [m for m in models if group(m.point) != g]
        fitted = fit_points(rest, prior_weight) if rest else FittedTech({})
        for m in held:
            pred = m.predict(fitted.factors(m.point.node_nm))
            rows += [{"held_out": g, "key": m.point.key, "figure": k, "ratio": pred[k] / v}
                     for k, v in m.point.figures.items()]
    return pd.DataFrame(rows, columns=["held_out", "key", "figure", "ratio"])


def loo_summary(loo: pd.DataFrame) -> dict[str, float]:
    """Median and largest |error| (%) of leave-one-out ratios, and the share within the tolerance."""
    err = (loo["ratio"] - 1).abs()
    return {"median_abs_error_pct": float(err.median() * 100), "max_abs_error_pct": float(err.max() * 100),
            "within_tolerance": float((np.abs(np.log(loo["ratio"])) <= np.log(1 + TOLERANCE)).mean())}


def comparison_frame(points: Sequence[ChipPoint], fitted: FittedTech, schedule: str | None = None) -> pd.DataFrame:
    """Published vs oracle (the real oracle with the fitted factors) for every point: figures,
    ratios, and whether every published figure lies within +-25 %."""
    rows = []
    for p in points:
        r = run_point(p, fitted.factors(p.node_nm), schedule)
        got = figures(p, r["latency_s"], r["e_core_j"], r["e_bw_j"])
        row = {"key": p.key, "chip": p.chip, "node_nm": p.node_nm, "network": p.network, "batch": p.batch}
        for k in FIGURES:
            pub = getattr(p, k)
            row |= {f"{k}_pub": pub, f"{k}_oracle": got[k], f"{k}_ratio": got[k] / pub if pub else np.nan}
        row |= {"area_pub": p.area_mm2, "area_oracle": r["area_mm2"], "derived": p.derived, "fit": p.fit}
        ratios = [row[f"{k}_ratio"] for k in p.figures]
        row["within"] = all(abs(np.log(x)) <= np.log(1 + TOLERANCE) for x in ratios)
        rows.append(row)
    return pd.DataFrame(rows)
