"""Fitted per-node corrections and the JSON file that carries them to ``generate`` and ``oracle``.

A node's :class:`TechFactors` multiply the physics defaults of that node
(:func:`..constants.tech_constants`: ``logic`` the MAC/add energies, ``sram`` the register-file and
buffer accesses, ``wire`` the array network, ``leakage`` the static power) and set the throughput
derating ``cycles`` (:attr:`..model.OracleSettings.cycle_overhead`). All 1.0 is the uncalibrated
oracle. The file (``data/fitted.json`` is the built-in fit of the published table)::

    {"format": "hwpower-tech/1", "hwpower_version": ..., "oracle_version": ...,
     "nodes": {"65": {"logic": 1.2, "sram": ..., "wire": ..., "leakage": ..., "cycles": ...}, ...},
     "fit": {...how it was made: points, bounds, leave-one-out errors...}}
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import InputError

FORMAT = "hwpower-tech/1"
BUILTIN_FILE = "data/fitted.json"
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
        from .. import constants as K
        from ..model import OracleSettings

        base = K.tech_constants(tech_nm)
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
        from ... import __version__
        from ..model import ORACLE_VERSION

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
    source = resources.files(__package__).joinpath(BUILTIN_FILE)
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
        from ..model import OracleSettings

        return OracleSettings(tech_nm=tech_nm, **kwargs)
    return load_tech(tech).settings(tech_nm, **kwargs)
