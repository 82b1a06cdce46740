"""A slow truth: the oracle behind a delay per call, standing in for a cycle-level simulator or a
measurement on a chip, with the oracle's small interface (``evaluate(net, hw)``,
``evaluate_many(nets, net_index, hw)``; one *call* = one configuration on one network).

The delay is charged to a :class:`Clock`: a *simulated* clock adds it to the time without sleeping
(so a benchmark of one-second calls runs in seconds), a real one sleeps. Searches that honour a
wall-time limit read the time from the truth's clock (``truth.now()``), so both behave the same;
``benchmarks/slow_truth.py`` shows once that the simulated and the real clock agree.

Every batch is recorded (``truth.log``: calls, the clock before and after), so a search can be
replayed at any other delay: with the oracle's own compute time ``c`` and ``n`` calls, the wall time
at delay ``d`` is ``c + n * d``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass
class Clock:
    """Wall time in seconds (``time.perf_counter``) plus, when ``simulated``, the delays charged so far."""

    simulated: bool = True
    charged_s: float = 0.0  # delay added without sleeping (simulated clock only)

    def now(self) -> float:
        return time.perf_counter() + self.charged_s

    def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.simulated:
            self.charged_s += seconds
        else:
            time.sleep(seconds)


@dataclass
class SlowTruth:
    """``truth`` (the oracle, or any object with its ``evaluate_many``) costing ``seconds_per_call``
    per configuration and network, one call after the other (a simulator or a chip answers one at a
    time). ``calls`` counts them; ``log`` holds ``(calls, real compute s)`` per batch."""

    truth: Any
    seconds_per_call: float
    clock: Clock = field(default_factory=Clock)
    calls: int = 0
    log: list[tuple[int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not np.isfinite(self.seconds_per_call) or self.seconds_per_call < 0:
            raise InputError(f"seconds per truth call must be a finite number >= 0, got {self.seconds_per_call}")

    @property
    def settings(self) -> Any:
        """The wrapped oracle's settings (its area model, for the search)."""
        return getattr(self.truth, "settings", None)

    def now(self) -> float:
        return self.clock.now()

    def evaluate_many(self, nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
        t0 = time.perf_counter()
        out = self.truth.evaluate_many(nets, net_index, hw)
        self.log.append((len(hw), time.perf_counter() - t0))
        self.calls += len(hw)
        self.clock.wait(self.seconds_per_call * len(hw))
        return out

    def evaluate(self, net: Any, hw: pd.DataFrame) -> pd.DataFrame:
        return self.evaluate_many([net], np.zeros(len(hw), dtype=np.int64), hw)


def clock_of(truth: Any):
    """The time function of a truth: its own clock (a :class:`SlowTruth`), else ``time.perf_counter``."""
    now = getattr(truth, "now", None)
    return now if callable(now) else time.perf_counter


def seconds_per_call(truth: Any) -> float:
    """The delay per call a truth charges (0 for the plain oracle)."""
    return float(getattr(truth, "seconds_per_call", 0.0))


def best_within(trace: np.ndarray, wall_s: float, delay_s: float) -> float:
    """Replay a search trace (rows: compute s, calls, objective or inf) at ``delay_s`` per truth
    call: the best objective among the configurations done within ``wall_s`` (inf if none)."""
    trace = np.asarray(trace, dtype=float).reshape(-1, 3)
    done = trace[:, 0] + trace[:, 1] * delay_s <= wall_s
    return float(trace[done, 2].min()) if done.any() else float("inf")
