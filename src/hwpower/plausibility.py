"""Plausibility bounds: values that are valid but almost certainly a typo (``pe_rows=100000``, a
network with 10^9 channels). Crossing one is a warning, never a silent acceptance nor (unless a
command's ``--strict`` says so) an error. The bounds live here, in one place; ``oracle``, ``process``
and ``predict`` call :func:`hardware_warnings` and :func:`network_warnings`.

Warnings go through :func:`warn`: to the ``hwpower`` logger by default, one line on stderr under the
command line (which installs a sink with :func:`set_warning_sink`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger("hwpower")

# Hardware parameter -> (low, high), inclusive. Wide: the default search space (oracle/space.py) is
# far inside them; they catch slips of a few orders of magnitude, not unusual designs.
HARDWARE_BOUNDS: dict[str, tuple[float, float]] = {
    "pe_rows": (1, 4096),
    "pe_cols": (1, 4096),
    "rf_bytes": (1, 1 << 20),  # 1 MiB per PE
    "glb_kib": (1, 1 << 20),  # 1 GiB
    "dram_gbps": (0.01, 100_000),
    "freq_mhz": (1, 10_000),
}
# Network size bounds: the largest tensor dimension (channels, features, sequence, vocabulary; batch
# excluded), and the network's counts. GPT-3 (1.75e11 weights) and 4k-pixel convolution nets fit.
MAX_DIMENSION = 1 << 20
NETWORK_BOUNDS: dict[str, float] = {"macs": 1e14, "weights": 1e12, "in_act": 1e12, "out_act": 1e12}

_sink: Callable[[str], None] | None = None


def set_warning_sink(sink: Callable[[str], None] | None) -> None:
    """Where :func:`warn` sends messages (None: the ``hwpower`` logger)."""
    global _sink
    _sink = sink


def warn(message: str) -> None:
    """Report a warning: one line, naming the value, file or item concerned."""
    if _sink is not None:
        _sink(message)
    else:
        log.warning("%s", message)


def _range_text(name: str) -> str:
    low, high = HARDWARE_BOUNDS[name]
    return f"[{low:g}, {high:g}]"


def hardware_value_warning(name: str, value: float, where: str = "") -> str | None:
    """The warning for one hardware value outside its plausible range, else None."""
    if name not in HARDWARE_BOUNDS:
        return None
    low, high = HARDWARE_BOUNDS[name]
    if low <= value <= high:
        return None
    at = f" ({where})" if where else ""
    return (f"{name}={value:g}{at} is outside the plausible range {_range_text(name)}: "
            "check the value and its unit")


def hardware_warnings(hw: Mapping[str, Any], where: str = "") -> list[str]:
    """Warnings for every numeric hardware value of one configuration outside its plausible range."""
    out = []
    for name, value in hw.items():
        number = _number(value)
        text = hardware_value_warning(name, number, where) if number is not None else None
        if text:
            out.append(text)
    return out


def _number(value: Any) -> float | None:
    """A numeric value (given as a number or as text, e.g. from ``--hw``), else None (not ours to check)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _largest_dimension(net: Any) -> int:
    """The largest tensor dimension of a block network (channels or size) or a graph (batch excluded)."""
    if hasattr(net, "ops"):
        return max((d for op in net.ops for d in op.out_shape[1:]), default=0)
    return max((d for block in net.blocks for d in (*block.in_shape, *block.out_shape)), default=0)


def network_warnings(net: Any, key: str) -> list[str]:
    """Warnings for a network whose dimensions or counts are beyond :data:`MAX_DIMENSION` and
    :data:`NETWORK_BOUNDS` (``key`` names it, e.g. ``nets_0/17``)."""
    out = []
    dim = _largest_dimension(net)
    if dim > MAX_DIMENSION:
        out.append(f"network {key}: a tensor dimension of {dim:,} (channels, features or size) is beyond the "
                   f"plausible {MAX_DIMENSION:,}: check the network file")
    counts = net.counts
    for name, bound in NETWORK_BOUNDS.items():
        value = getattr(counts, name)
        if value > bound:
            out.append(f"network {key}: {name} = {value:.3g} is beyond the plausible {bound:.0e}: check the network file")
    return out


def warn_all(messages: Iterable[str]) -> list[str]:
    """:func:`warn` each message; returns them (for callers that also escalate them)."""
    messages = list(messages)
    for text in messages:
        warn(text)
    return messages


def warn_networks(nets: Mapping[str, Any]) -> list[str]:
    """Warn about every implausible network of ``{key: network}``; returns the messages."""
    return warn_all(w for key, net in nets.items() for w in network_warnings(net, key))


def warn_inputs(hw: Mapping[str, Any] | None, net: Any, key: str, where: str = "--hw") -> list[str]:
    """Warn about one configuration's hardware values (given at ``where``) and one network (``key``)."""
    return warn_all([*(hardware_warnings(hw, where) if hw else []),
                     *(network_warnings(net, key) if net is not None else [])])
