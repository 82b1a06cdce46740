"""Fitted per-node corrections (:class:`TechFactors`) and the JSON file that carries them to
``generate`` and ``oracle`` (:class:`FittedTech`).

They are defined in :mod:`hwpower.oracle.settings`, next to the :class:`~hwpower.oracle.settings.OracleSettings`
they make (each makes the other, so one module); this module keeps their calibration names.
"""

from __future__ import annotations

from ..settings import (BUILTIN, BUILTIN_FILE, FORMAT, FittedTech, TechFactors, builtin_tech, load_tech, parse_tech,
                        tech_settings)

__all__ = ["BUILTIN", "BUILTIN_FILE", "FORMAT", "FittedTech", "TechFactors", "builtin_tech", "load_tech", "parse_tech",
           "tech_settings"]
