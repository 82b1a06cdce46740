"""The analytical oracle: network power, latency and energy on a parameterized accelerator.

``Oracle.evaluate`` is the project's ground truth (docs/oracle.md). It groups configurations by
dataflow, evaluates them in chunks of (configurations x layers) arrays (see :mod:`.cost`) and sums
over layers. Outputs (batch 1): ``P_core``, ``P_bw``, ``P`` in W, ``latency_ms``, ``energy_mj``,
``area_mm2`` (chip area, oracle/area.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..networks import AnyNetwork, GraphNetwork, expand_network
from ..networks.layers import LayerTable
from . import constants as K
from .area import area_mm2
from .cost import Energies, Geometry, HwArrays, Residency, energies, hw_arrays, layer_costs
from .schedule import SchedulePlan, check_schedule, plan
from .space import HW_PARAMS, SUPPORTED

ORACLE_VERSION = "2.0"  # bump when the cost model changes: generated data depends on it
OUTPUTS = ("P_core", "P_bw", "P", "latency_ms", "energy_mj", "area_mm2")
CHUNK_ELEMENTS = 1 << 18  # (configurations x layers) per chunk: keeps temporaries in cache
GEOMETRY_CACHE = 4096  # networks whose loop bounds an Oracle keeps
OVERLAPS = ("tiled", "perfect")
MAPPING_DEFAULTS = {"overlap": "tiled", "weights_resident": False}


@dataclass(frozen=True)
class OracleSettings:
    """Generator settings (not hardware parameters): technology node, DRAM type, DVFS curve.

    ``v_nom``/``f_nom_mhz`` default to the node's entry in :data:`constants.NODES`. ``schedule``:
    ``fused`` keeps activations that fit on chip (whole or as depth-first tiles), ``layer`` sends
    every activation through DRAM (oracle/schedule.py, docs/oracle.md "Schedule"). ``tech``
    overrides the node's technology multipliers (:class:`constants.TechConstants`; None: the
    physics defaults of :func:`constants.tech_constants`), e.g. with a calibration fit's values.
    """

    tech_nm: int = 45
    dram: str = "lpddr4"
    v_nom: float | None = None
    f_nom_mhz: float | None = None
    v_th: float = K.V_TH
    alpha: float = K.ALPHA
    v_min: float = K.V_MIN
    v_max: float = K.V_MAX
    schedule: str = "fused"
    tech: K.TechConstants | None = None
    # Calibration's throughput derating (oracle/calibration/factors.py): compute and buffer cycles
    # run at freq_mhz / cycle_overhead (control, reconfiguration and pipeline bubbles a real chip
    # loses), at the voltage of freq_mhz. 1.0 = the ideal mapping.
    cycle_overhead: float = 1.0
    # Calibration's chip mappings (oracle/calibration, docs/oracle.md "Calibration"); the defaults
    # are the oracle's own model. ``overlap``: "tiled" (double-buffered tiles, oracle/array.py) or
    # "perfect" (max(compute, DRAM) per operator, as NVDLA's performance estimator assumes).
    # ``weights_resident``: the convolution and linear weights stay in the buffer across inferences
    # when they all fit it (the Edge TPU's parameter caching): no weight DRAM traffic then.
    overlap: str = "tiled"
    weights_resident: bool = False

    def __post_init__(self) -> None:
        check_schedule(self.schedule)
        if self.overlap not in OVERLAPS:
            raise InputError(f"overlap must be one of {list(OVERLAPS)}, got {self.overlap!r}", where="settings")
        if isinstance(self.tech, Mapping):  # as to_dict() / a manifest writes it
            object.__setattr__(self, "tech", K.TechConstants(**self.tech))
        if self.tech is not None and not isinstance(self.tech, K.TechConstants):
            raise InputError(f"tech must be a TechConstants, got {type(self.tech).__name__}", where="settings")
        if not (np.isfinite(self.cycle_overhead) and self.cycle_overhead > 0):
            raise InputError(f"cycle_overhead must be positive, got {self.cycle_overhead}", where="settings")
        if self.dram not in K.DRAM_PJ_PER_BIT:
            raise InputError(f"unknown DRAM type {self.dram!r} (known: {sorted(K.DRAM_PJ_PER_BIT)})", where="settings")
        if self.tech_nm not in K.NODES and (self.v_nom is None or self.f_nom_mhz is None):
            raise InputError(f"no built-in DVFS point for {self.tech_nm} nm (known: {sorted(K.NODES)}); "
                             "give v_nom and f_nom_mhz", where="settings")
        if not 0 < self.v_th < self.v_min <= self.v_max:
            raise InputError("need 0 < v_th < v_min <= v_max", where="settings")

    @classmethod
    def fitted(cls, tech: str = "builtin", tech_nm: int = 45, **kwargs: Any) -> OracleSettings:
        """Settings with fitted technology constants: a `hwpower calibrate --fit ... --out FILE` file, or
        "builtin" (the fit of the published chips, oracle/calibration/data/fitted.json)."""
        from .calibration.factors import load_tech  # the calibration package imports this module

        return load_tech(tech).settings(tech_nm, **kwargs)

    @property
    def tech_constants(self) -> K.TechConstants:
        return K.tech_constants(self.tech_nm) if self.tech is None else self.tech

    @property
    def node(self) -> K.Node:
        base = K.NODES.get(self.tech_nm)
        v = self.v_nom if self.v_nom is not None else base.v_nom
        f = self.f_nom_mhz if self.f_nom_mhz is not None else base.f_nom_mhz
        return K.Node(float(self.tech_nm), v, f)

    def voltage(self, freq_mhz: Any) -> np.ndarray:
        """Supply voltage on this node's DVFS curve for each frequency (alpha-power law)."""
        return K.voltage_for_frequency(freq_mhz, self.node, v_th=self.v_th, alpha=self.alpha,
                                       v_min=self.v_min, v_max=self.v_max)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(v_nom=self.node.v_nom, f_nom_mhz=self.node.f_nom_mhz)
        for k in MAPPING_DEFAULTS:  # calibration-only fields at their defaults: manifests as before
            if d[k] == MAPPING_DEFAULTS[k]:
                del d[k]
        return d


def check_hardware(hw: Any, *, file: str | None = None) -> None:
    """Physical validity of hardware columns (any space): present, finite, positive, supported."""
    columns = hw.columns if isinstance(hw, pd.DataFrame) else hw.keys()
    missing = [n for n in HW_PARAMS if n not in columns]
    if missing:
        raise InputError(f"missing hardware parameter(s) {missing}", file=file)
    for name in HW_PARAMS:
        values = np.asarray(hw[name]).reshape(-1)
        if name in SUPPORTED:
            bad = ~np.isin(values.astype(object), np.asarray(SUPPORTED[name], dtype=object))
            problem = f"must be one of {list(SUPPORTED[name])}"
        else:
            num = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
            bad = ~(np.isfinite(num) & (num > 0))
            problem = "must be a positive finite number"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = values[i].item() if isinstance(values[i], np.generic) else values[i]
            raise InputError(f"{name}={value!r} {problem}", file=file, where=f"row {i}")


class Oracle:
    """Analytical accelerator cost model (docs/oracle.md). Holds its settings and a cache of
    per-network loop bounds (results never depend on the cache)."""

    def __init__(self, settings: OracleSettings = OracleSettings()):
        self.settings = settings
        # Per network, by identity (the network is kept, so its id cannot be reused): the network
        # costed, its loop bounds and its schedule plan.
        self._geometry: dict[int, tuple[AnyNetwork, _Costed]] = {}

    def _costed(self, net: AnyNetwork) -> _Costed:
        hit = self._geometry.get(id(net))
        if hit is None or hit[0] is not net:
            if len(self._geometry) >= GEOMETRY_CACHE:
                self._geometry.clear()
            hit = self._geometry[id(net)] = (net, _Costed.of(net, self.settings.schedule))
        return hit[1]

    def _geometry_of(self, net: AnyNetwork) -> Geometry:
        return self._costed(net).geometry

    # -- the vectorised core ------------------------------------------------------------------
    def _energies(self, hw: HwArrays) -> Energies:
        try:
            v = self.settings.voltage(hw.freq_mhz)
        except ValueError as exc:
            raise InputError(str(exc), where="freq_mhz") from None
        return energies(hw, v, self.settings.tech_nm, self.settings.dram, self.settings.tech_constants)

    def _chunks(self, g: Geometry, hw: HwArrays, e: Energies, detail: bool, sched: SchedulePlan | None = None):
        """Yield (rows, costs) per chunk of configurations of one dataflow; ``sched`` gives the
        activations' residency per chunk (None: all through DRAM)."""
        step = max(1, CHUNK_ELEMENTS // max(len(g.macs), 1))
        for ws in (True, False):
            rows = np.flatnonzero(hw.ws == ws)
            for start in range(0, len(rows), step):
                r = rows[start:start + step]
                h = hw.take(r)
                res = None if sched is None else Residency(*sched.residency(h.glb_kib, h.bits))
                if self.settings.cycle_overhead != 1.0:  # energies keep the voltage of the real clock
                    h = replace(h, freq_mhz=h.freq_mhz / self.settings.cycle_overhead)
                w_dram = None
                if self.settings.weights_resident:  # 0 for resident weights, where all of them fit
                    fits = float((g.w * g.static).sum()) * h.bits <= h.glb_kib * 8192
                    w_dram = np.where(fits, 1.0 - g.static, 1.0)
                yield r, layer_costs(g, h, e.take(r), ws, detail, res, w_dram=w_dram,
                                     perfect_overlap=self.settings.overlap == "perfect")

    def evaluate_layers(self, layers: LayerTable, hw: Mapping[str, np.ndarray],
                        sched: SchedulePlan | None = None) -> dict[str, np.ndarray]:
        """(N, L) arrays for N configurations and L layers: energy per level (``e_*_pj``, pJ),
        ``latency_s``, ``cycles``, ``utilisation``, traffic (``dram_words``, ``glb_words``,
        ``array_words``) and the bound times ``compute_s``/``glb_s``/``dram_s``. A bare table has
        no graph, so every activation goes through DRAM unless ``sched`` (the plan of the graph
        whose table this is, :func:`.schedule.plan`) says otherwise."""
        check_hardware(hw)
        g, h = Geometry.of(layers), hw_arrays(hw)
        out: dict[str, np.ndarray] = {}
        for rows, costs in self._chunks(g, h, self._energies(h), detail=True, sched=sched):
            for k, v in costs.items():
                out.setdefault(k, np.empty((len(h), len(layers))))[rows] = v
        return out

    def _totals(self, costed: _Costed, h: HwArrays, e: Energies) -> np.ndarray:
        """(N, 3): core energy (J), bandwidth energy (J), latency (s), summed over layers."""
        out = np.empty((len(h), 3))
        for rows, c in self._chunks(costed.geometry, h, e, detail=False, sched=costed.plan):
            out[rows, 0] = c["e_core_pj"].sum(axis=1) * 1e-12
            out[rows, 1] = c["e_bw_pj"].sum(axis=1) * 1e-12
            out[rows, 2] = c["latency_s"].sum(axis=1)
        return out

    def _frame(self, tot: np.ndarray, h: HwArrays, index: pd.Index | None = None) -> pd.DataFrame:
        e_core, e_bw, t = tot[:, 0], tot[:, 1], tot[:, 2]
        area = area_mm2(h.pe_rows, h.pe_cols, h.rf_bytes, h.glb_kib, h.bits, h.dram_gbps, self.settings.tech_constants)
        return pd.DataFrame({"P_core": e_core / t, "P_bw": e_bw / t, "P": (e_core + e_bw) / t,
                             "latency_ms": t * 1e3, "energy_mj": (e_core + e_bw) * 1e3,
                             "area_mm2": area.reshape(-1)}, index=index)

    # -- public API -----------------------------------------------------------------------------
    def evaluate(self, net: AnyNetwork, hw: pd.DataFrame) -> pd.DataFrame:
        """Network outputs per hardware row (rows aligned with ``hw``, same index)."""
        check_hardware(hw)
        h = hw_arrays(hw)
        return self._frame(self._totals(self._costed(net), h, self._energies(h)), h, hw.index)

    def evaluate_many(self, nets: Sequence[AnyNetwork], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
        """Row i = ``nets[net_index[i]]`` on hardware row i; rows are grouped by network inside."""
        check_hardware(hw)
        net_index = np.asarray(net_index)
        if net_index.shape != (len(hw),):
            raise InputError(f"net_index has shape {net_index.shape}, expected ({len(hw)},)")
        if len(net_index) and (net_index.min() < 0 or net_index.max() >= len(nets)):
            raise InputError(f"net_index values must lie in [0, {len(nets)})")
        h = hw_arrays(hw)
        e = self._energies(h)  # per configuration, whatever the network: computed once
        tot = np.empty((len(hw), 3))
        order = np.argsort(net_index, kind="stable")
        bounds = np.flatnonzero(np.diff(net_index[order])) + 1
        for rows in np.split(order, bounds):
            if len(rows):
                c = self._costed(nets[int(net_index[rows[0]])])
                tot[rows] = self._totals(c, h.take(rows), e.take(rows))
        return self._frame(tot, h, hw.index)

    def breakdown(self, net: AnyNetwork, hw: Mapping[str, Any]) -> pd.DataFrame:
        """Per-layer (per-operator) costs of ``net`` on one configuration (``hw`` maps parameter ->
        value): block and graph networks alike. ``unit`` says where the operator runs (``array``,
        ``vector`` or ``memory``); ``bound`` is ``none`` for an operator that costs nothing (a view)."""
        one = {k: [hw[k]] for k in HW_PARAMS if k in hw}
        check_hardware(one)
        costed = self._costed(net)
        layers = costed.net.layers
        table = costed.net.layer_table()
        c = self.evaluate_layers(table, one, costed.plan)
        g = costed.geometry
        bits = float(hw["bits"])
        row = {k: v[0] for k, v in c.items()}
        times = np.stack([row["compute_s"], row["glb_s"], row["dram_s"]])
        bound = np.array(["compute", "buffer", "dram"])[np.argmax(times, axis=0)]
        df = pd.DataFrame({
            "name": [x.name for x in layers], "op": [x.op.name.lower() for x in layers],
            "unit": np.where(g.array > 0, "array", np.where(g.vector > 0, "vector", "memory")),
            "macs": table.macs, "cycles": row["cycles"].astype(np.int64),
            "utilisation": row["utilisation"], "latency_ms": row["latency_s"] * 1e3,
            "bound": np.where(times.max(axis=0) > 0, bound, "none"),
        })
        for level in ("mac", "rf", "noc", "clk", "glb", "leak", "dram", "dram_bg"):
            df[f"{level}_mj"] = row[f"e_{level}_pj"] * 1e-9
        df["energy_mj"] = (row["e_core_pj"] + row["e_bw_pj"]) * 1e-9
        df["dram_bytes"] = row["dram_words"] * bits / 8
        df["glb_bytes"] = row["glb_words"] * bits / 8
        return df


@dataclass(frozen=True)
class _Costed:
    """What the oracle costs for one network under one schedule: ``layer`` costs a block network's
    layers as they are (the accounting the generated data has always had); ``fused`` costs the
    operator graph (a block network's :func:`expand_network`) with its residency plan."""

    net: AnyNetwork
    geometry: Geometry
    plan: SchedulePlan | None

    @classmethod
    def of(cls, net: AnyNetwork, schedule: str) -> _Costed:
        if schedule == "layer":
            return cls(net, Geometry.of(net.layer_table()), None)
        graph = net if isinstance(net, GraphNetwork) else expand_network(net)
        return cls(graph, Geometry.of(graph.layer_table()), plan(graph))
