"""Reading the search's user inputs: networks by id from a nets file, and measurement tables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..networks import read_networks
from ..networks.jsonio import AnyNetwork
from .problem import OUTPUTS


def pick_networks(nets_file: str | Path, ids: list[int]) -> list[AnyNetwork]:
    """The networks (block or graph) with these ids from a nets file; an unknown id names the file and the id."""
    nets = read_networks(nets_file)
    missing = [i for i in ids if i not in nets]
    if missing:
        known = sorted(nets)
        raise InputError(f"no network with id {missing[0]} (the file has {len(known)} networks, ids {known[0]}..{known[-1]})",
                         file=str(nets_file), where=f"id {missing[0]}")
    return [nets[i] for i in ids]


def read_measurements(path: str | Path) -> pd.DataFrame:
    """A small table (comma- or whitespace-separated, one header line): ``network`` and measured outputs.

    Returns the table with ``network`` as a string and each output column as positive floats.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read measurements ({exc})", file=str(path)) from None
    rows = [(n, re.split(r"[,\s]+", line.strip())) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise InputError("empty measurements file", file=str(path))
    (_, header), body = rows[0], rows[1:]
    if "network" not in header:
        raise InputError(f"no 'network' column in the header {header}", file=str(path), where="line 1")
    unknown = [c for c in header if c != "network" and c not in OUTPUTS]
    outs = [c for c in header if c in OUTPUTS]
    if unknown or not outs:
        raise InputError(f"columns must be 'network' and measured outputs among {list(OUTPUTS)}; got {header}",
                         file=str(path), where="line 1")
    if not body:
        raise InputError("no measurement rows", file=str(path))
    records: list[dict[str, Any]] = []
    for line_no, parts in body:
        if len(parts) != len(header):
            raise InputError(f"expected {len(header)} fields, got {len(parts)}", file=str(path), where=f"line {line_no}")
        rec: dict[str, Any] = dict(zip(header, parts))
        for c in outs:
            try:
                value = float(rec[c])
            except ValueError:
                raise InputError(f"{c}={rec[c]!r} is not a number", file=str(path), where=f"line {line_no}") from None
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"{c}={rec[c]} must be a positive power/latency/energy", file=str(path), where=f"line {line_no}")
            rec[c] = value
        records.append(rec)
    return pd.DataFrame(records, columns=header)
