"""What the user asks for: targets, objectives, constraints and fixed parameters, parsed with
clear errors (``latency_ms<=5``, ``P<=2``, ``bits=8``, ``P=1.3``, ``0.7*P+0.3*latency_ms``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

OUTPUTS = ("P", "P_core", "P_bw", "latency_ms", "energy_mj")
CONSTRAINT_OUTPUTS = (*OUTPUTS, "area_mm2")  # area: exact (hardware only), for the Pareto design
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONSTRAINT = re.compile(rf"^\s*(\w+)\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_TERM = re.compile(rf"^\s*(?:({_NUMBER})\s*\*\s*)?(\w+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``output op limit`` on a predicted (and verified) output; ``<`` is treated as ``<=``."""

    output: str
    op: str  # "<=" or ">="
    limit: float

    def __str__(self) -> str:
        return f"{self.output}{self.op}{self.limit:g}"

    def satisfied(self, value: Any, rtol: float = 0.0) -> Any:
        if self.op == "<=":
            return value <= self.limit * (1 + rtol)
        return value >= self.limit * (1 - rtol)


@dataclass(frozen=True)
class Objective:
    """Weighted sum of outputs to minimize (weights >= 0)."""

    weights: dict[str, float]

    def __str__(self) -> str:
        return " + ".join(f"{w:g}*{n}" if w != 1 else n for n, w in self.weights.items())


def _check_output(name: str, where: str, allowed: tuple[str, ...] = OUTPUTS) -> str:
    if name not in allowed:
        raise InputError(f"unknown output {name!r}; expected one of {', '.join(allowed)}", where=where)
    return name


def _positive(text: str, where: str) -> float:
    value = float(text)
    if not value > 0:
        raise InputError(f"value must be positive, got {text}", where=where)
    return value


def parse_constraint(text: str) -> Constraint:
    """Parse ``latency_ms<=5`` (also ``<``, ``>=``, ``>``) into a :class:`Constraint`."""
    where = f"constraint {text!r}"
    m = _CONSTRAINT.match(text)
    if not m:
        raise InputError("expected OUTPUT<=VALUE or OUTPUT>=VALUE, e.g. 'latency_ms<=5'", where=where)
    name, op, value = m.groups()
    return Constraint(_check_output(name, where, CONSTRAINT_OUTPUTS), "<=" if op in ("<=", "<") else ">=", _positive(value, where))


def parse_target(text: str) -> dict[str, float]:
    """Parse ``P=1.3`` or ``P_core=0.8,P_bw=0.4`` into ``{output: watts}``."""
    where = f"target {text!r}"
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise InputError(f"expected OUTPUT=VALUE, got {part!r}", where=where)
        name = _check_output(name.strip(), where)
        try:
            out[name] = _positive(value.strip(), where)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"not a number: {value.strip()!r}", where=where) from None
    if not out:
        raise InputError("empty target", where=where)
    if "P" in out and ({"P_core", "P_bw"} & set(out)):
        raise InputError("give either P or P_core/P_bw, not both", where=where)
    return out


def parse_objective(text: str) -> Objective:
    """Parse ``P``, ``energy_mj`` or a weighted sum ``0.7*P + 0.3*latency_ms``."""
    where = f"objective {text!r}"
    weights: dict[str, float] = {}
    for term in text.split("+"):
        m = _TERM.match(term)
        if not m:
            raise InputError(f"cannot read term {term.strip()!r}; expected NAME or WEIGHT*NAME", where=where)
        weight, name = m.groups()
        weights[_check_output(name, where)] = weights.get(name, 0.0) + (_positive(weight, where) if weight else 1.0)
    return Objective(weights)


def parse_fixes(texts: list[str], space: Any) -> dict[str, Any]:
    """Parse ``--fix bits=8`` options against the space: known parameter, allowed value."""
    params = {p.name: p for p in space.params}
    fixed: dict[str, Any] = {}
    for text in texts:
        for part in filter(None, (p.strip() for p in text.split(","))):
            where = f"--fix {part!r}"
            name, sep, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise InputError("expected PARAM=VALUE, e.g. bits=8", where=where)
            if name not in params:
                raise InputError(f"unknown hardware parameter {name!r}; expected one of {', '.join(params)}", where=where)
            fixed[name] = _grid_value(params[name], value, where)
    return fixed


def _grid_value(param: Any, text: str, where: str) -> Any:
    for allowed in param.grid:
        if str(allowed) == text:
            return allowed
        if not isinstance(allowed, str):
            try:
                if float(text) == float(allowed):
                    return allowed
            except ValueError:
                pass
    raise InputError(f"{text!r} is not an allowed value of {param.name}; allowed: {list(param.grid)}", where=where)
