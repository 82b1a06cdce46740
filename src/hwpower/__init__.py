"""hwpower: how much power will this neural network draw on that accelerator, and which accelerator
parameters should I pick?

The main objects are importable from here and loaded on first use (PEP 562), so ``import hwpower``
stays fast and imports neither torch nor pandas::

    import hwpower
    nets = hwpower.read_networks("nets_0.json")
    hwpower.Oracle().evaluate(nets[0], hardware_frame)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it, in data-flow order
_API: dict[str, str] = {
    "GraphNetwork": "hwpower.networks", "Network": "hwpower.networks", "Op": "hwpower.networks",
    "read_networks": "hwpower.networks", "write_networks": "hwpower.networks",
    "sample_networks": "hwpower.networks", "expand_network": "hwpower.networks",
    "import_network": "hwpower.networks.importers",
    "Oracle": "hwpower.oracle", "OracleSettings": "hwpower.oracle", "HardwareSpace": "hwpower.oracle",
    "generate": "hwpower.generate",
    "process": "hwpower.processing", "load_processed": "hwpower.processing",
    "Predictor": "hwpower.model",
    "recover": "hwpower.search", "identify": "hwpower.search", "design": "hwpower.search",
    "build_report": "hwpower.report",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'hwpower' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
