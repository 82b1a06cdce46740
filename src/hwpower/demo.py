"""``hwpower demo``: the whole pipeline on the embedded default data, step by step.

Each step is a short call into the library; the demo adds only orchestration and printing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from .networks import sample_networks
from .networks.reference import reference_networks
from .networks.show import network_table, summary_table

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    out_dir: Path
    step_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.step_seconds.values())


def _step_networks(ctx: DemoContext) -> None:
    sampled = sample_networks("ofa-mbv3", 3, seed=0)
    ctx.console.print(summary_table(sampled, title="3 networks sampled from the OFA-MobileNetV3 space (seed 0)"))
    ctx.console.print(network_table(sampled[0], title="sampled network 0: blocks"))
    refs = reference_networks()
    ctx.console.print(summary_table(dict(enumerate(refs.values())), title="reference networks imported from torchvision"))
    ctx.console.print(network_table(refs["mobilenet_v2"], title="mobilenet_v2: blocks"))


@dataclass
class DemoContext:
    out_dir: Path
    console: Console
    state: dict = field(default_factory=dict)


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("networks: sample from the search space, import reference networks", _step_networks),
]


def run_demo(out_dir: str | Path = "demo-output", console: Console | None = None) -> DemoResult:
    """Run every demo step in order, printing progress; returns the per-step wall times."""
    ctx = DemoContext(Path(out_dir), console or Console())
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(ctx.out_dir)
    for i, (title, step) in enumerate(STEPS, start=1):
        ctx.console.print(Rule(f"step {i}/{len(STEPS)}: {title}"))
        start = time.perf_counter()
        step(ctx)
        result.step_seconds[title.split(":")[0]] = time.perf_counter() - start
    ctx.console.print(Rule("done"))
    ctx.console.print(f"demo finished in {result.total_seconds:.1f} s; outputs in {ctx.out_dir}")
    return result
