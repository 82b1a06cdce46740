"""Ray, when a command is given ``--ray ADDRESS``: ``local`` starts a Ray instance on this machine for
the run, ``auto`` joins the cluster this machine belongs to (``ray start``), ``ray://HOST:10001`` or
``HOST:6379`` a given one (docs/scale.md). An instance the caller already started is used as it is."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..errors import HwpowerError


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """The ``ray`` module, initialised for ``address`` and shut down afterwards if started here."""
    try:
        import ray
    except ImportError:
        raise HwpowerError("--ray needs the ray package (pip install 'ray>=2.9')") from None
    started = not ray.is_initialized()
    if started:
        _init(ray, address)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def ensure_ray(address: str) -> Any:
    """The ``ray`` module, initialised for ``address`` unless it already is; left running (for objects
    such as :class:`~.sweep.SweepOracle` that are used many times; Ray stops when the program ends)."""
    try:
        import ray
    except ImportError:
        raise HwpowerError("ray=... needs the ray package (pip install 'ray>=2.9')") from None
    if not ray.is_initialized():
        _init(ray, address)
    return ray


def _init(ray: Any, address: str) -> None:
    try:
        ray.init(address=address, include_dashboard=False,  # "local": a new instance on this machine
                 log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise HwpowerError(f"cannot reach the Ray cluster at {address!r}: {exc}. Start one with `ray start "
                           "--head` (or give --ray local for a Ray instance on this machine)") from None
