"""The analytical oracle: network power, latency and energy on a parameterized accelerator.

``Oracle.evaluate`` is the project's ground truth (docs/oracle.md). It groups configurations by
dataflow, evaluates them in chunks of (configurations x layers) arrays (see :mod:`.cost`) and sums
over layers. Outputs (batch 1): ``P_core``, ``P_bw``, ``P`` in W, ``latency_ms``, ``energy_mj``,
``area_mm2`` (chip area, oracle/area.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..networks import AnyNetwork, GraphNetwork, expand_network
from ..networks.layers import LayerTable
from .area import area_mm2
from .cost import Energies, Geometry, HwArrays, Residency, energies, hw_arrays, layer_costs
from .schedule import SchedulePlan, plan
from .settings import ORACLE_VERSION, OracleSettings  # noqa: F401 (ORACLE_VERSION re-exported)
from .space import HW_PARAMS, SUPPORTED

OUTPUTS = ("P_core", "P_bw", "P", "latency_ms", "energy_mj", "area_mm2")
CHUNK_ELEMENTS = 1 << 18  # (configurations x layers) per chunk: keeps temporaries in cache
GEOMETRY_CACHE = 4096  # networks whose loop bounds an Oracle keeps


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
