"""Physical plausibility of predictions: never return a non-finite or impossible number silently.

A prediction that is not a finite positive number raises :class:`~hwpower.errors.InputError` naming
the row and network. Finite predictions are compared with bounds computed from the hardware row and
the network's counts, with conservative factors (so that a correct prediction never trips them,
whatever the technology node, voltage or buffer sizes):

- energy >= MACs x ``MAC_PJ_MIN`` (the MAC energy alone: 0.2 pJ per 8-bit multiply-add at 45 nm,
  Horowitz 2014, times 0.05 for smaller nodes and lower voltages);
- latency >= MACs / (rows x cols x frequency) x 0.5 (every PE busy every cycle, halved);
- P_bw <= dram_gbps x 8e9 x ``DRAM_PJ_MAX`` x 2 + ``STATIC_W_MAX`` (all data read from DRAM at peak
  bandwidth with the costliest DRAM, doubled, plus a static margin);
- P_core <= rows x cols x frequency x ``MAC_PJ_MAX`` + ``STATIC_W_MAX`` (every PE doing a MAC with its
  register-file, buffer and network traffic every cycle at the highest voltage, plus leakage).

Outside them: a :class:`PhysicsWarning` (an error under ``policy="error"``, ``--strict``) with the
reason. Rows whose hardware lacks a column a bound needs are not checked against that bound.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import InputError
from .encoding import OutOfRangeWarning

MAC_PJ_MIN = 0.2 * 0.05  # pJ per MAC at 8 bits, scaled linearly with bits
MAC_PJ_MAX = 100.0  # pJ per MAC with all its data movement, any node and voltage (generous)
DRAM_PJ_MAX = 70.0  # pJ per bit, DDR3 (the costliest DRAM type in the oracle)
STATIC_W_MAX = 20.0


class PhysicsWarning(OutOfRangeWarning):
    """A prediction outside physical bounds: it is most likely wrong."""


def _col(hw: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in hw.columns:
        return None
    return pd.to_numeric(hw[name].astype(str), errors="coerce").to_numpy(dtype=np.float64)


def check_finite(pred: pd.DataFrame, networks: pd.Series, *, source: str) -> None:
    values = pred.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(f"the model predicted {pred.columns[col]}={float(values[row, col])!r}, not a finite positive "
                         f"number ({int(bad.any(axis=1).sum())} row(s)): the network or hardware lies far outside "
                         "the training data", file=source, where=f"row {row}, network {networks.iloc[row]}")


def physical_limits(hw: pd.DataFrame, macs: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """{target: ("min" | "max", bound per row)}, for the bounds the hardware columns allow."""
    r, c, f = _col(hw, "pe_rows"), _col(hw, "pe_cols"), _col(hw, "freq_mhz")
    bits, bw = _col(hw, "bits"), _col(hw, "dram_gbps")
    out: dict[str, tuple[str, np.ndarray]] = {}
    if bits is not None:
        out["energy_mj"] = ("min", macs * MAC_PJ_MIN * bits / 8 * 1e-9)
    if r is not None and c is not None and f is not None:
        out["latency_ms"] = ("min", 0.5 * macs / (r * c * f * 1e6) * 1e3)
        out["P_core"] = ("max", r * c * f * 1e6 * MAC_PJ_MAX * 1e-12 + STATIC_W_MAX)
    if bw is not None:
        out["P_bw"] = ("max", bw * 8e9 * DRAM_PJ_MAX * 2 * 1e-12 + STATIC_W_MAX)
    if "P_core" in out and "P_bw" in out:
        out["P"] = ("max", out["P_core"][1] + out["P_bw"][1])
    return out


def check_physical(pred: pd.DataFrame, hw: pd.DataFrame, networks: pd.Series, macs: np.ndarray, *,
                   policy: str = "warn", source: str = "samples") -> list[str]:
    """Non-finite predictions raise; predictions outside :func:`physical_limits` warn (or raise)."""
    check_finite(pred, networks, source=source)
    pred = pred.copy()
    if "energy_mj" not in pred and {"P", "latency_ms"} <= set(pred):
        pred["energy_mj"] = pred["P"] * pred["latency_ms"]
    problems = []
    for target, (side, bound) in physical_limits(hw, np.asarray(macs, dtype=np.float64)).items():
        if target not in pred:
            continue
        v = pred[target].to_numpy(dtype=np.float64)
        bad = (v < bound) if side == "min" else (v > bound)
        bad &= np.isfinite(bound)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            word = "below the physical minimum" if side == "min" else "above the physical maximum"
            problems.append(f"row {i} (network {networks.iloc[i]}): predicted {target}={v[i]:.4g} is {word} "
                            f"{bound[i]:.4g} for this hardware and network ({int(bad.sum())} row(s)); "
                            "the prediction is not plausible")
    if problems and policy == "error":
        raise InputError("; ".join(problems) + " (--strict)", file=source)
    for text in problems:
        if policy == "warn":
            warnings.warn(f"{source}: {text}", PhysicsWarning, stacklevel=3)
    return problems
