"""Calibration against silicon: the published chip table, the fit of per-node constants, Eyeriss.

- :mod:`.table`: published chip x network points (``data/chips.csv``) and the user's measurement files;
- :mod:`.factors`: per-node multiplicative corrections (:class:`TechFactors`), saved as JSON
  (defined in :mod:`..settings`, beside the settings they make; this module re-exports them);
- :mod:`.fit`: the oracle on each point, the bounded least-squares fit, leave-one-out errors;
- :mod:`.eyeriss`: the original single-point check (Eyeriss v1 on AlexNet's convolutions).

Names are loaded lazily (PEP 562), so that importing the package loads neither the oracle model
nor scipy until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EYERISS_FPS": "eyeriss", "EYERISS_HW": "eyeriss", "EYERISS_POWER_W": "eyeriss", "EYERISS_SETTINGS": "eyeriss",
    "CalibrationResult": "eyeriss", "alexnet": "eyeriss", "alexnet_conv_layers": "eyeriss",
    "eyeriss_alexnet": "eyeriss",
    "ChipPoint": "table", "builtin_table": "table", "read_points": "table",
    "TechFactors": "factors", "FittedTech": "factors", "load_tech": "factors", "builtin_tech": "factors",
    "evaluate_points": "fit", "fit_points": "fit", "leave_one_out": "fit", "comparison_frame": "fit",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
