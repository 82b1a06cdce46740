"""Published chip x network points (``data/chips.csv``) and users' measurement files of the same form.

Each row maps a chip onto the oracle's hardware parameters (array ``pe_rows`` x ``pe_cols``,
``bits``, buffer ``glb_kib``, register file ``rf_bytes`` per PE, ``freq_mhz``, ``dram`` type and
``dram_gbps``, ``dataflow``), its node and nominal supply ``v_nom`` (the DVFS curve is anchored at
the chip's clock and supply), the workload (``network`` names one of :data:`.networks.WORKLOADS`,
at ``batch``) and the published figures: ``power_w``, ``throughput_ips`` (inferences/s) and
``energy_mj`` per inference. Any two of the three give the third (energy = power / throughput),
which is then marked derived; a point with one figure (NVDLA, Simba: no power published) is compared
on that figure alone. ``covers`` says what the power includes: ``chip`` (the die, DRAM excluded:
compared with the oracle's ``P_core``) or ``chip+dram`` (compared with ``P``). ``fit`` (yes/no,
default yes) says whether the fit uses the point; ``outside_reason`` (optional) is the measured
reason a point misses +-25 %, which ``hwpower calibrate`` prints beside it. ``assumed`` lists the columns that are our
assumptions rather than published figures (semicolon-separated). How the chip ran the network,
where it differs from the oracle's defaults: ``schedule`` (``fused``, the default, or ``layer``),
``overlap`` (``tiled``, the default, or ``perfect``) and ``weights`` (``dram``, the default, or
``resident``: kept on chip across inferences), the :class:`~hwpower.oracle.model.OracleSettings`
fields of the same meaning.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from ...errors import InputError
from ..constants import DRAM_PJ_PER_BIT, NODES
from ..space import SUPPORTED
from .networks import WORKLOADS

BUILTIN_TABLE = "data/chips.csv"
COVERS = ("chip", "chip+dram")
REQUIRED = ("node_nm", "pe_rows", "pe_cols", "bits", "glb_kib", "rf_bytes", "freq_mhz", "dram_gbps", "dataflow",
            "network", "batch")
FIGURES = ("power_w", "throughput_ips", "energy_mj")
# Optional mapping columns: allowed values, the first the default.
MAPPING = {"schedule": ("fused", "layer"), "overlap": ("tiled", "perfect"), "weights": ("dram", "resident")}
FLOATS = ("node_nm", "pe_rows", "pe_cols", "glb_kib", "rf_bytes", "freq_mhz", "dram_gbps", "v_nom", "area_mm2",
          *FIGURES)


@dataclass(frozen=True)
class ChipPoint:
    """One published (or measured) chip x network point; figures are None where not given."""

    key: str
    chip: str
    node_nm: float
    pe_rows: float
    pe_cols: float
    bits: int
    glb_kib: float
    rf_bytes: float
    freq_mhz: float
    v_nom: float | None
    dram: str
    dram_gbps: float
    dataflow: str
    network: str
    batch: int
    power_w: float | None
    throughput_ips: float | None
    energy_mj: float | None
    area_mm2: float | None
    covers: str = "chip"
    schedule: str = "fused"
    overlap: str = "tiled"
    weights: str = "dram"
    fit: bool = True  # used by the fit (False: shown, but the note says why the oracle cannot match it)
    assumed: str = ""
    source: str = ""
    note: str = ""
    outside_reason: str = ""  # the measured reason a point misses +-25 % (docs/oracle.md, Calibration)
    derived: str = ""  # the figure computed from the other two ("" when none was)
    file: str = ""  # where the point was read, for errors found when the oracle runs it
    line: int = 0

    @property
    def hardware(self) -> dict[str, object]:
        """The oracle's hardware parameters for this chip."""
        return {"pe_rows": self.pe_rows, "pe_cols": self.pe_cols, "rf_bytes": self.rf_bytes, "glb_kib": self.glb_kib,
                "dram_gbps": self.dram_gbps, "freq_mhz": self.freq_mhz, "bits": self.bits, "dataflow": self.dataflow}

    @property
    def figures(self) -> dict[str, float]:
        """The published figures present (after derivation), by name."""
        return {f: getattr(self, f) for f in FIGURES if getattr(self, f) is not None}


def _number(text: str, column: str, where: str, file: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"column {column!r}: {text!r} is not a number", file=file, where=where) from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"column {column!r}: {text!r} must be a positive finite number", file=file, where=where)
    return value


def _derive(values: dict[str, float | None], where: str, file: str) -> str:
    """Fill the missing figure from the other two; returns its name ("" if none was missing)."""
    p, t, e = (values[f] for f in FIGURES)
    given = sum(v is not None for v in (p, t, e))
    if given == 0:
        raise InputError(f"give at least one of {list(FIGURES)}", file=file, where=where)
    if given == 3:
        if abs(p / t * 1e3 / e - 1) > 0.02:  # energy = power / throughput
            raise InputError(f"power_w / throughput_ips = {p / t * 1e3:.4g} mJ disagrees with energy_mj = {e:g} "
                             "(leave one of the three empty)", file=file, where=where)
        return ""
    if given == 1:
        return ""
    if e is None:
        values["energy_mj"] = p / t * 1e3
        return "energy_mj"
    if p is None:
        values["power_w"] = e * t * 1e-3
        return "power_w"
    values["throughput_ips"] = p / e * 1e3
    return "throughput_ips"


def _point(row: dict[str, str], line: int, file: str) -> ChipPoint:
    where = f"line {line}"
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        raise InputError(f"missing value(s) in column(s) {missing}", file=file, where=where)
    values: dict[str, object] = {c: _number(row.get(c) or "", c, where, file) for c in FLOATS}
    for column, allowed in (("bits", SUPPORTED["bits"]), ("dataflow", SUPPORTED["dataflow"])):
        text = row[column].strip()
        value = int(_number(text, column, where, file)) if column == "bits" else text
        if value not in allowed:
            raise InputError(f"column {column!r}: {text!r} must be one of {list(allowed)}", file=file, where=where)
        values[column] = value
    network = row["network"].strip()
    if network not in WORKLOADS:
        raise InputError(f"column 'network': unknown network {network!r} (known: {sorted(WORKLOADS)})",
                         file=file, where=where)
    batch = _number(row["batch"], "batch", where, file)
    if batch != int(batch):
        raise InputError(f"column 'batch': {row['batch']!r} must be a whole number", file=file, where=where)
    covers = (row.get("covers") or "chip").strip()
    if covers not in COVERS:
        raise InputError(f"column 'covers': {covers!r} must be one of {list(COVERS)}", file=file, where=where)
    dram = (row.get("dram") or "lpddr4").strip()
    if dram not in DRAM_PJ_PER_BIT:
        raise InputError(f"column 'dram': {dram!r} must be one of {sorted(DRAM_PJ_PER_BIT)}", file=file, where=where)
    if int(values["node_nm"]) not in NODES and values["v_nom"] is None:
        raise InputError(f"column 'v_nom': needed for a {values['node_nm']:g} nm node (built in: {sorted(NODES)})",
                         file=file, where=where)
    mapping = {c: (row.get(c) or allowed[0]).strip() for c, allowed in MAPPING.items()}
    for column, allowed in MAPPING.items():
        if mapping[column] not in allowed:
            raise InputError(f"column {column!r}: {mapping[column]!r} must be one of {list(allowed)}",
                             file=file, where=where)
    fit = (row.get("fit") or "yes").strip().lower()
    if fit not in ("yes", "no"):
        raise InputError(f"column 'fit': {fit!r} must be yes or no", file=file, where=where)
    derived = _derive(values, where, file)
    text = {c: (row.get(c) or "").strip() for c in ("key", "chip", "assumed", "source", "note", "outside_reason")}
    return ChipPoint(key=text["key"] or f"line{line}", chip=text["chip"], network=network, batch=int(batch),
                     dram=dram, covers=covers, fit=fit == "yes", derived=derived, **mapping,
                     assumed=text["assumed"], source=text["source"], note=text["note"],
                     outside_reason=text["outside_reason"], file=file, line=line, **values)


def parse_points(text: str, *, file: str) -> list[ChipPoint]:
    """Points from CSV text (header line, then one point per line); errors name file, line and column."""
    reader = csv.DictReader(text.splitlines())
    known = {f.name for f in fields(ChipPoint)} - {"derived", "file", "line"}
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in known]
    if unknown:
        raise InputError(f"unknown column(s) {unknown} (known: {sorted(known)})", file=file, where="line 1")
    absent = [c for c in REQUIRED if c not in header]
    if absent:
        raise InputError(f"missing column(s) {absent}", file=file, where="line 1")
    points = []
    for row in reader:
        if None in row:  # more values than header columns
            raise InputError(f"{len(header) + len(row[None])} values for {len(header)} columns",
                             file=file, where=f"line {reader.line_num}")
        points.append(_point(row, reader.line_num, file))
    if not points:
        raise InputError("no points (a header line, then one point per line)", file=file)
    keys = [p.key for p in points]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise InputError(f"duplicate key(s) {dup}", file=file)
    return points


def read_points(path: str | Path) -> list[ChipPoint]:
    """A user's measurement file (the columns of ``data/chips.csv``; see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return parse_points(text, file=str(path))


def builtin_table() -> list[ChipPoint]:
    """The packaged table of published chips (docs/oracle.md, "Calibration")."""
    source = resources.files(__package__).joinpath(BUILTIN_TABLE)
    return parse_points(source.read_text(encoding="utf-8"), file=str(source))
