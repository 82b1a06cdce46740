"""The oracle's settings and the fitted technology corrections that make them.

:class:`OracleSettings` holds what is not a hardware parameter: technology node, DRAM type, DVFS
curve, schedule and the calibration's mapping choices. :class:`TechFactors` are fitted per-node
corrections: they multiply the physics defaults of that node (:func:`.constants.tech_constants`:
``logic`` the MAC/add energies, ``sram`` the register-file and buffer accesses, ``wire`` the array
network, ``leakage`` the static power) and set the throughput derating ``cycles``
(:attr:`OracleSettings.cycle_overhead`). All 1.0 is the uncalibrated oracle. :class:`FittedTech`
is the JSON file that carries them to ``generate`` and ``oracle`` (``calibration/data/fitted.json``
is the built-in fit of the published table)::

    {"format": "hwpower-tech/1", "hwpower_version": ..., "oracle_version": ...,
     "nodes": {"65": {"logic": 1.2, "sram": ..., "wire": ..., "leakage": ..., "cycles": ...}, ...},
     "fit": {...how it was made: points, bounds, leave-one-out errors...}}

Settings and factors share one module because each makes the other (``OracleSettings.fitted``
reads a factors file; ``TechFactors.settings`` builds settings). It sits below :mod:`.model` and
the calibration package (whose :mod:`.calibration.factors` re-exports the factor names), and
imports neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .constants import ALPHA, DRAM_PJ_PER_BIT, NODES, V_MAX, V_MIN, V_TH, Node, TechConstants, voltage_for_frequency
from .constants import tech_constants as node_tech_constants
from .schedule import check_schedule

ORACLE_VERSION = "2.0"  # bump when the cost model changes: generated data depends on it
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
    v_th: float = V_TH
    alpha: float = ALPHA
    v_min: float = V_MIN
    v_max: float = V_MAX
    schedule: str = "fused"
    tech: TechConstants | None = None
    # Calibration's throughput derating (TechFactors.cycles, below): compute and buffer cycles
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
            object.__setattr__(self, "tech", TechConstants(**self.tech))
        if self.tech is not None and not isinstance(self.tech, TechConstants):
            raise InputError(f"tech must be a TechConstants, got {type(self.tech).__name__}", where="settings")
        if not (np.isfinite(self.cycle_overhead) and self.cycle_overhead > 0):
            raise InputError(f"cycle_overhead must be positive, got {self.cycle_overhead}", where="settings")
        if self.dram not in DRAM_PJ_PER_BIT:
            raise InputError(f"unknown DRAM type {self.dram!r} (known: {sorted(DRAM_PJ_PER_BIT)})", where="settings")
        if self.tech_nm not in NODES and (self.v_nom is None or self.f_nom_mhz is None):
            raise InputError(f"no built-in DVFS point for {self.tech_nm} nm (known: {sorted(NODES)}); "
                             "give v_nom and f_nom_mhz", where="settings")
        if not 0 < self.v_th < self.v_min <= self.v_max:
            raise InputError("need 0 < v_th < v_min <= v_max", where="settings")

    @classmethod
    def fitted(cls, tech: str = "builtin", tech_nm: int = 45, **kwargs: Any) -> OracleSettings:
        """Settings with fitted technology constants: a `hwpower calibrate --fit ... --out FILE` file, or
        "builtin" (the fit of the published chips, oracle/calibration/data/fitted.json)."""
        return load_tech(tech).settings(tech_nm, **kwargs)

    @property
    def tech_constants(self) -> TechConstants:
        return node_tech_constants(self.tech_nm) if self.tech is None else self.tech

    @property
    def node(self) -> Node:
        base = NODES.get(self.tech_nm)
        v = self.v_nom if self.v_nom is not None else base.v_nom
        f = self.f_nom_mhz if self.f_nom_mhz is not None else base.f_nom_mhz
        return Node(float(self.tech_nm), v, f)

    def voltage(self, freq_mhz: Any) -> np.ndarray:
        """Supply voltage on this node's DVFS curve for each frequency (alpha-power law)."""
        return voltage_for_frequency(freq_mhz, self.node, v_th=self.v_th, alpha=self.alpha,
                                       v_min=self.v_min, v_max=self.v_max)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(v_nom=self.node.v_nom, f_nom_mhz=self.node.f_nom_mhz)
        for k in MAPPING_DEFAULTS:  # calibration-only fields at their defaults: manifests as before
            if d[k] == MAPPING_DEFAULTS[k]:
                del d[k]
        return d


# -- fitted per-node corrections (``hwpower calibrate --fit``) ---------------------------------
FORMAT = "hwpower-tech/1"
BUILTIN_FILE = "data/fitted.json"  # in the hwpower.oracle.calibration package
BUILTIN = "builtin"  # the name `--tech` accepts for the packaged fit


@dataclass(frozen=True)
class TechFactors:
    """Multipliers on one node's physics defaults (all 1.0: the uncalibrated oracle)."""

    logic: float = 1.0
    sram: float = 1.0
    wire: float = 1.0
    leakage: float = 1.0
    cycles: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"factor {f.name} must be a positive finite number, got {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def settings(self, tech_nm: float, **kwargs: Any):
        """``OracleSettings`` for ``tech_nm`` with these corrections applied (``kwargs``: dram, v_nom,
        f_nom_mhz, schedule, ...)."""
        base = node_tech_constants(tech_nm)
        tech = replace(base, logic=base.logic * self.logic, sram=base.sram * self.sram, wire=base.wire * self.wire,
                       leakage=base.leakage * self.leakage)
        return OracleSettings(tech_nm=int(tech_nm), tech=tech, cycle_overhead=self.cycles, **kwargs)


@dataclass(frozen=True)
class FittedTech:
    """Factors per node (nodes absent keep the physics defaults) and how they were fitted."""

    nodes: dict[int, TechFactors]
    fit: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file it was read from ("" when made in memory)

    def factors(self, tech_nm: float) -> TechFactors:
        return self.nodes.get(int(tech_nm), TechFactors())

    def settings(self, tech_nm: float, **kwargs: Any):
        return self.factors(tech_nm).settings(tech_nm, **kwargs)

    def to_json(self) -> str:
        from .. import __version__

        data = {"format": FORMAT, "hwpower_version": __version__, "oracle_version": ORACLE_VERSION,
                "nodes": {str(n): {k: float(f"{v:.6g}") for k, v in asdict(f).items()}
                          for n, f in sorted(self.nodes.items())}, "fit": self.fit}
        return json.dumps(data, indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def parse_tech(text: str, *, file: str) -> FittedTech:
    """A fitted-constants file; errors name the file and the entry."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=file, where=f"line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a fitted-constants file (expected \"format\": \"{FORMAT}\")", file=file)
    nodes_data = data.get("nodes")
    if not isinstance(nodes_data, dict):
        raise InputError("\"nodes\" must map a node in nm to its factors", file=file)
    nodes: dict[int, TechFactors] = {}
    for key, values in nodes_data.items():
        where = f"nodes.{key}"
        if not key.isdigit() or not isinstance(values, dict):
            raise InputError("expected \"NODE_NM\": {factor: value, ...}", file=file, where=where)
        unknown = sorted(set(values) - set(TechFactors.names()))
        if unknown:
            raise InputError(f"unknown factor(s) {unknown} (known: {list(TechFactors.names())})",
                             file=file, where=where)
        try:
            nodes[int(key)] = TechFactors(**values)
        except (TypeError, ValueError) as exc:
            raise InputError(str(exc), file=file, where=where) from None
    return FittedTech(nodes, data.get("fit") or {}, source=file)


def builtin_tech() -> FittedTech:
    """The packaged fit of the published table (``hwpower calibrate`` writes it with ``--update-builtin``)."""
    source = resources.files(f"{__package__}.calibration").joinpath(BUILTIN_FILE)
    return parse_tech(source.read_text(encoding="utf-8"), file=str(source))


def load_tech(path: str | Path) -> FittedTech:
    """A fitted-constants file, or the built-in fit for ``"builtin"``."""
    if str(path) == BUILTIN:
        return builtin_tech()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_tech(text, file=str(path))


def tech_settings(tech: str | Path | None, tech_nm: int, **kwargs: Any):
    """``OracleSettings`` for the commands' ``--tech`` option: the physics defaults when None, else
    the node's factors from the file (or ``"builtin"``)."""
    if tech is None:
        return OracleSettings(tech_nm=tech_nm, **kwargs)
    return load_tech(tech).settings(tech_nm, **kwargs)
