"""Evaluate one shard of rows and format it as a raw text table (the unit of work, local or Ray)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import HwpowerError
from ..networks import Network
from ..oracle import HW_PARAMS, OUTPUTS, Oracle, OracleSettings
from ..oracle.area import hardware_area_mm2
from .plan import BLOCK_ROWS

SIGNIFICANT_DIGITS = 6
COLUMNS = (*HW_PARAMS, "network", *OUTPUTS)


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to produce one file's bytes."""

    hw: pd.DataFrame  # hardware columns and ``net``
    keys: Sequence[str]  # network key per network index
    noise: float
    noise_seed: int
    backend: str
    settings: OracleSettings


def round_significant(x: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits; the result is the double nearest the decimal, so its
    shortest representation (what the writer prints) has at most ``digits`` digits."""
    x = np.asarray(x, dtype=np.float64)
    mag = np.floor(np.log10(np.where(x != 0, np.abs(x), 1.0)))
    scale = 10.0 ** np.clip(digits - 1 - mag, 0, 15)
    return np.rint(x * scale) / scale


def make_oracle(backend: str, settings: OracleSettings) -> Any:
    if backend == "analytical":
        return Oracle(settings)
    try:
        from ..oracle.zigzag_backend import ZigZagOracle
    except ImportError as exc:
        raise HwpowerError(f"--backend zigzag is not available: {exc}. It needs hwpower.oracle.zigzag_backend "
                           "and `pip install zigzag-dse`") from None
    return ZigZagOracle(settings)


def _evaluated(nets: Sequence[Network], task: ShardTask, oracle: Any = None) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(hardware rows, outputs) a block of BLOCK_ROWS rows at a time: every output depends on its own
    row alone, and the noise of the whole shard is drawn first, so the values equal a one-block run's."""
    oracle = oracle if oracle is not None else make_oracle(task.backend, task.settings)
    hw_all = task.hw.reset_index(drop=True)
    n = len(hw_all)
    # Log-normal with mean 1: relative noise of about ``noise``, never a negative power.
    z = np.random.default_rng(task.noise_seed).standard_normal((3, n)) if task.noise > 0 else None
    for start in range(0, max(n, 1), BLOCK_ROWS):
        hw = hw_all.iloc[start: start + BLOCK_ROWS].reset_index(drop=True)
        net_index = hw["net"].to_numpy()
        if isinstance(oracle, Oracle):
            out = oracle.evaluate_many(nets, net_index, hw)
        else:  # peer backends evaluate one network at a time
            out = pd.concat([oracle.evaluate(nets[k], hw[net_index == k]) for k in np.unique(net_index)]).sort_index()
        p_core, p_bw, lat = (out[c].to_numpy() for c in ("P_core", "P_bw", "latency_ms"))
        if z is not None:
            f = np.exp(task.noise * z[:, start: start + len(hw)] - task.noise ** 2 / 2)
            p_core, p_bw, lat = p_core * f[0], p_bw * f[1], lat * f[2]
        p_core, p_bw, lat = (round_significant(v) for v in (p_core, p_bw, lat))
        p = round_significant(p_core + p_bw)
        # Area depends on the hardware alone: no measurement noise; peer backends take the oracle's.
        area = out["area_mm2"].to_numpy() if "area_mm2" in out else hardware_area_mm2(hw, task.settings.tech_constants)
        yield hw, pd.DataFrame({"P_core": p_core, "P_bw": p_bw, "P": p, "latency_ms": lat,
                                "energy_mj": round_significant(p * lat),  # W x ms = mJ
                                "area_mm2": round_significant(area)})


def evaluate_rows(nets: Sequence[Network], task: ShardTask, oracle: Any = None) -> pd.DataFrame:
    """Outputs for every row of the task, with noise applied (deterministic from ``noise_seed``).
    ``oracle``: one to reuse across shards (it caches per-network work); by default a new one."""
    return pd.concat([out for _, out in _evaluated(nets, task, oracle)], ignore_index=True)


def _table(hw: pd.DataFrame, out: pd.DataFrame, keys: Sequence[str]) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for name in HW_PARAMS:
        values = hw[name].to_numpy()
        if name == "dataflow":
            cols[name] = pa.array(values.astype(str))
        elif name == "bits" or pd.api.types.is_integer_dtype(hw[name]):
            cols[name] = pa.array(values.astype(np.int64))
        else:
            cols[name] = pa.array(values.astype(np.float64))
    cols["network"] = pa.array(np.asarray(keys, dtype=object)[hw["net"].to_numpy()].astype(str))
    for name in OUTPUTS:
        cols[name] = pa.array(out[name].to_numpy())
    return pa.table(cols)


def write_shard(nets: Sequence[Network], task: ShardTask, sink: BinaryIO, oracle: Any = None) -> str:
    """Write the shard as a whitespace-separated table with a header line (docs/data-format.md) to
    ``sink``, a block of rows at a time; return the sha256 of what was written."""
    digest = hashlib.sha256()

    def put(data: bytes) -> None:
        digest.update(data)
        sink.write(data)

    put((" ".join(COLUMNS) + "\n").encode())
    options = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none", batch_size=65536)
    for hw, out in _evaluated(nets, task, oracle):
        buf = io.BytesIO()
        pacsv.write_csv(_table(hw, out, task.keys), buf, options)
        put(buf.getbuffer())
    return digest.hexdigest()


def shard_text(nets: Sequence[Network], task: ShardTask, oracle: Any = None) -> bytes:
    """The shard's bytes, as :func:`write_shard` writes them (what a Ray task returns)."""
    buf = io.BytesIO()
    write_shard(nets, task, buf, oracle)
    return buf.getvalue()
