"""The dataset schema: which raw columns are hardware parameters, network, targets, and their units.

Our own files (written by ``hwpower generate``) follow a fixed header; users' files may not. A schema
file (TOML, see docs/data-format.md) says how to read them; without one the schema is inferred from
the header using the column catalogue below, and :meth:`DatasetSchema.describe` says what was inferred.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .targets import Relation

# Separators a schema may name; "whitespace" means runs of spaces or tabs.
SEPARATORS = {"whitespace": " ", "space": " ", "comma": ",", ",": ",", "tab": "\t", "\t": "\t", ";": ";", "semicolon": ";"}

# The standard column catalogue (docs/data-format.md): used to infer a schema from a header.
CATALOGUE_NUMERIC: dict[str, tuple[str, str]] = {  # name -> (unit, dtype)
    "pe_rows": ("PEs", "int"), "pe_cols": ("PEs", "int"), "rf_bytes": ("bytes", "int"),
    "glb_kib": ("KiB", "int"), "dram_gbps": ("GB/s", "float"), "freq_mhz": ("MHz", "float"),
}
CATALOGUE_CATEGORICAL: dict[str, list] = {"bits": [8, 16], "dataflow": ["os", "ws"]}
# ``area_mm2`` (oracle 2.0) is optional: raw files written before it have no such column.
CATALOGUE_TARGETS: dict[str, str] = {"P_core": "W", "P_bw": "W", "P": "W", "latency_ms": "ms", "energy_mj": "mJ",
                                     "area_mm2": "mm2"}
DEFAULT_NETWORK_COLUMN = "network"
# Tried in order on the first network value when no schema names a pattern.
CANDIDATE_PATTERNS = (
    r"^(?P<stem>[^/:#\s]+)/(?P<id>\d+)$",
    r"^(?P<stem>[^/:#\s]+)[:#](?P<id>\d+)$",
    r"^(?P<id>\d+)$",
)
POWER_RTOL, POWER_ATOL_W = 1e-3, 2e-5  # rounding of 5-decimal or 6-digit raw values stays inside this
ENERGY_ATOL_MJ = 1e-4  # rounding energies to 4 decimals stays inside this


@dataclass(frozen=True)
class NumericColumn:
    name: str  # name in the processed dataset
    source: str  # name in the raw header
    unit: str
    dtype: str = "float"  # "int" (checked integral, stored int64) or "float"
    positive: bool = True  # hardware parameters must be > 0 unless the schema says otherwise


@dataclass(frozen=True)
class CategoricalColumn:
    name: str
    source: str
    values: tuple  # allowed values, ints or strings; stored with their own type


@dataclass(frozen=True)
class TargetColumn:
    name: str
    source: str
    unit: str


@dataclass(frozen=True)
class PowerSum:
    """``total`` must equal the sum of ``parts`` within ``atol_w + rtol * |total|``."""

    total: str
    parts: tuple[str, ...]
    rtol: float = POWER_RTOL
    atol_w: float = POWER_ATOL_W


@dataclass(frozen=True)
class EnergyProduct:
    """``total`` (mJ) must equal the product of ``factors`` (W x ms) within ``atol_mj + rtol * |total|``."""

    total: str
    factors: tuple[str, str]
    rtol: float = POWER_RTOL
    atol_mj: float = ENERGY_ATOL_MJ


@dataclass(frozen=True)
class DatasetSchema:
    separator: str  # one character; " " means runs of whitespace
    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]
    network_source: str
    network_pattern: str  # regex with a named group ``id`` and optionally ``stem``
    targets: tuple[TargetColumn, ...]
    power_sum: PowerSum | None
    inferred: bool = False
    ignored: tuple[str, ...] = field(default=())  # header columns not used
    energy_product: EnergyProduct | None = None

    @property
    def relations(self) -> list[Relation]:
        """The checked relations between targets, which storage also uses (a derived target is stored
        as its residual against the formula)."""
        out = []
        if self.power_sum is not None and len(self.power_sum.parts) == 2:
            out.append(Relation(self.power_sum.total, "sum", tuple(self.power_sum.parts)))
        if self.energy_product is not None:
            out.append(Relation(self.energy_product.total, "product", tuple(self.energy_product.factors)))
        return out

    @property
    def sources(self) -> list[str]:
        """Raw header names this schema reads."""
        return [c.source for c in (*self.numeric, *self.categorical)] + [self.network_source] + [
            t.source for t in self.targets]

    @property
    def numeric_names(self) -> list[str]:
        return [c.name for c in self.numeric]

    @property
    def categorical_values(self) -> dict[str, tuple]:
        """Each categorical column's allowed values (their order gives the stored codes)."""
        return {c.name: c.values for c in self.categorical}

    @property
    def units(self) -> dict[str, str]:
        out = {c.name: c.unit for c in self.numeric}
        out.update({t.name: t.unit for t in self.targets})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}

    def describe(self) -> str:
        how = "inferred from the header" if self.inferred else "from the schema file"
        sep = "whitespace" if self.separator == " " else repr(self.separator)
        lines = [
            f"schema {how}: separator {sep}",
            "  hardware (numeric): " + ", ".join(f"{c.name} [{c.unit}]" for c in self.numeric),
            "  hardware (categorical): " + ", ".join(f"{c.name} {list(c.values)}" for c in self.categorical),
            f"  network: column {self.network_source!r}, pattern {self.network_pattern}",
            "  targets: " + ", ".join(f"{t.name} [{t.unit}]" for t in self.targets),
        ]
        if self.power_sum:
            lines.append(f"  check: {self.power_sum.total} = {' + '.join(self.power_sum.parts)}")
        if self.energy_product:
            lines.append(f"  check: {self.energy_product.total} = {' x '.join(self.energy_product.factors)}")
        if self.ignored:
            lines.append(f"  ignored columns: {', '.join(self.ignored)}")
        return "\n".join(lines)

    def check_header(self, header: list[str], *, file: str) -> None:
        missing = [s for s in self.sources if s not in header]
        if missing:
            raise InputError(f"header lacks column(s) {missing} (header: {header})", file=file, where="line 1")


def _default_power_sum(names: set[str]) -> PowerSum | None:
    return PowerSum("P", ("P_core", "P_bw")) if {"P", "P_core", "P_bw"} <= names else None


def _default_energy(names: set[str]) -> EnergyProduct | None:
    """W x ms = mJ: the catalogue's energy is its power times its latency."""
    return EnergyProduct("energy_mj", ("P", "latency_ms")) if {"energy_mj", "P", "latency_ms"} <= names else None


def infer_schema(header: list[str], separator: str, first_network: str | None, *, file: str) -> DatasetSchema:
    """Infer the schema from a header using the column catalogue; unknown columns are ignored."""
    # Catalogue order, not the file's: the processed columns come out the same whatever the order.
    numeric = tuple(NumericColumn(n, n, *spec) for n, spec in CATALOGUE_NUMERIC.items() if n in header)
    categorical = tuple(CategoricalColumn(n, n, tuple(v)) for n, v in CATALOGUE_CATEGORICAL.items() if n in header)
    targets = tuple(TargetColumn(n, n, unit) for n, unit in CATALOGUE_TARGETS.items() if n in header)
    if DEFAULT_NETWORK_COLUMN not in header:
        raise InputError(f"no {DEFAULT_NETWORK_COLUMN!r} column and no schema file naming the network column "
                         f"(header: {header})", file=file, where="line 1")
    if not numeric and not categorical:
        raise InputError(f"no known hardware column in header {header}; pass a schema file", file=file, where="line 1")
    if not targets:
        raise InputError(f"no known target column in header {header}; pass a schema file", file=file, where="line 1")
    pattern = next((p for p in CANDIDATE_PATTERNS if first_network is not None and re.match(p, first_network)), None)
    if pattern is None:
        raise InputError(f"cannot tell how network value {first_network!r} names a network; give a pattern in a "
                         "schema file", file=file, where="line 2")
    used = {c.name for c in (*numeric, *categorical, *targets)} | {DEFAULT_NETWORK_COLUMN}
    return DatasetSchema(separator, numeric, categorical, DEFAULT_NETWORK_COLUMN, pattern, targets,
                         _default_power_sum(set(header)), inferred=True,
                         ignored=tuple(n for n in header if n not in used), energy_product=_default_energy(set(header)))


def load_schema(path: str | Path) -> DatasetSchema:
    """Read a schema TOML file (format in docs/data-format.md)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read schema: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"schema is not UTF-8 ({exc.reason})", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed TOML: {exc}", file=str(path)) from None
    try:
        return _schema_from_dict(data)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise InputError(f"invalid schema: {exc}", file=str(path)) from None


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] must be a table")
    return value


def _schema_from_dict(data: dict[str, Any]) -> DatasetSchema:
    unknown = sorted(set(data) - {"separator", "hardware", "network", "targets", "checks"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}")
    sep_name = data.get("separator", "whitespace")
    if sep_name not in SEPARATORS:
        raise ValueError(f"separator must be one of {sorted(SEPARATORS)}, got {sep_name!r}")
    hardware = _table(data, "hardware")
    numeric = tuple(
        NumericColumn(name, spec.get("column", name), spec["unit"], spec.get("dtype", "float"), spec.get("positive", True))
        for name, spec in _table(hardware, "numeric").items()
    )
    for col in numeric:
        if col.dtype not in ("int", "float"):
            raise ValueError(f"hardware.numeric.{col.name}.dtype must be 'int' or 'float', got {col.dtype!r}")
    categorical = tuple(
        CategoricalColumn(name, spec.get("column", name), tuple(spec["values"]))
        for name, spec in _table(hardware, "categorical").items()
    )
    for col in categorical:
        if not col.values or len({type(v) for v in col.values}) != 1 or not isinstance(col.values[0], (int, str)):
            raise ValueError(f"hardware.categorical.{col.name}.values must be a non-empty list of integers or strings")
    if not numeric and not categorical:
        raise ValueError("no hardware columns ([hardware.numeric] / [hardware.categorical])")
    network = _table(data, "network")
    pattern = network.get("pattern", CANDIDATE_PATTERNS[0])
    if "id" not in re.compile(pattern).groupindex:
        raise ValueError(f"network.pattern needs a named group 'id', got {pattern!r}")
    targets = tuple(TargetColumn(name, spec.get("column", name), spec["unit"])
                    for name, spec in _table(data, "targets").items())
    if not targets:
        raise ValueError("no [targets]")
    names = [c.name for c in (*numeric, *categorical, *targets)] + ["network"]
    if len(set(names)) != len(names):
        raise ValueError(f"column names repeat: {names}")
    checks = _table(data, "checks")
    if "power_sum" in checks:
        spec = checks["power_sum"]
        power_sum = PowerSum(spec["total"], tuple(spec["parts"]), float(spec.get("rtol", POWER_RTOL)),
                             float(spec.get("atol_w", POWER_ATOL_W)))
        target_names = {t.name for t in targets}
        if not {power_sum.total, *power_sum.parts} <= target_names:
            raise ValueError(f"checks.power_sum names columns that are not targets: {power_sum}")
    else:
        power_sum = _default_power_sum({t.name for t in targets})
    if "energy_product" in checks:
        spec = checks["energy_product"]
        energy = EnergyProduct(spec["total"], tuple(spec["factors"]), float(spec.get("rtol", POWER_RTOL)),
                               float(spec.get("atol_mj", ENERGY_ATOL_MJ)))
        if len(energy.factors) != 2 or not {energy.total, *energy.factors} <= {t.name for t in targets}:
            raise ValueError(f"checks.energy_product needs a target total and two target factors: {energy}")
    else:
        energy = _default_energy({t.name for t in targets})
    return DatasetSchema(SEPARATORS[sep_name], numeric, categorical, network.get("column", "network"), pattern,
                         targets, power_sum, energy_product=energy)


def schema_from_manifest(data: dict[str, Any]) -> DatasetSchema:
    """The schema a processed dataset's manifest records (``manifest["schema"]``, from ``to_dict``)."""
    ps, ep = data.get("power_sum"), data.get("energy_product")
    return DatasetSchema(
        data["separator"], tuple(NumericColumn(**c) for c in data["numeric"]),
        tuple(CategoricalColumn(c["name"], c["source"], tuple(c["values"])) for c in data["categorical"]),
        data["network_source"], data["network_pattern"], tuple(TargetColumn(**t) for t in data["targets"]),
        PowerSum(ps["total"], tuple(ps["parts"]), ps["rtol"], ps["atol_w"]) if ps else None,
        inferred=data.get("inferred", False), ignored=tuple(data.get("ignored", ())),
        energy_product=EnergyProduct(ep["total"], tuple(ep["factors"]), ep["rtol"], ep["atol_mj"]) if ep else None)
