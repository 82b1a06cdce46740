"""The ZigZag backend (optional dependency zigzag-dse): the public entry points.

- :class:`ZigZagOracle` -- ``Oracle.evaluate``'s interface from per-layer ZigZag evaluations
  (the generator's ``--backend zigzag``).
- :func:`cross_check` -- rank agreement of ZigZag and the analytical oracle per layer.
- :func:`zigzag_layer_seconds` -- median time of one ZigZag layer evaluation (benchmarks).
- :func:`zigzag_hardware` -- one hardware configuration as a ZigZag accelerator.

Importing this module imports ZigZag and raises ImportError (naming the package to install) when
it is missing, so ``try: from hwpower.oracle.zigzag_backend import ...`` is the availability test
(the generator and benchmarks/oracle.py use it that way).
"""

from __future__ import annotations

from .zigzag_check import cross_check, layer_kind, reference_layers, zigzag_layer_seconds
from .zigzag_oracle import LayerCost, ZigZagOracle, zigzag_hardware
from .zigzag_run import DEFAULT_LPF_LIMIT, ZigZagLayerResult, require_zigzag, run_layer
from .zigzag_translate import ZigZagHardware

require_zigzag()

__all__ = [
    "DEFAULT_LPF_LIMIT", "LayerCost", "ZigZagHardware", "ZigZagLayerResult", "ZigZagOracle", "cross_check",
    "layer_kind", "reference_layers", "run_layer", "zigzag_hardware", "zigzag_layer_seconds",
]

