"""What a generation run produces, decided up front and deterministically from the seed.

The plan fixes the networks (sampled and reference), the held-out networks, every row's hardware
configuration and network, and the shards. Evaluating a shard (:mod:`.shards`) then depends only
on the plan, so a local run and a Ray run write the same bytes.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from scipy.stats import qmc

from ..errors import InputError
from ..networks import Network, sample_networks
from ..oracle import HardwareSpace, OracleSettings

BACKENDS = ("analytical", "zigzag")
SAMPLED_STEM = "nets_0"  # the one nets file of a single-space run
REFERENCE_STEM = "nets_ref"
# The default recipe: networks drawn from every built-in family, in equal shares (docs/data-format.md).
DEFAULT_SPACES = "ofa-mbv3,resnet,transformer,mixed"


@dataclass(frozen=True)
class GenerateConfig:
    """Options of ``hwpower generate`` (docs/oracle.md)."""

    # Defaults: the cross-family recipe a user wants (leave-family-out benchmark: 300 networks and
    # 30,000 rows give 0.8 % in-family and 0.9 % zoo MAPE; 50 / 5,000 gave about 2 %).
    networks: int = 300  # sampled from ``search_space``; the reference networks come in addition
    train_rows: int = 30_000
    val_rows: int = 3_000
    seed: int = 0
    space: HardwareSpace = field(default_factory=HardwareSpace.default)
    noise: float = 0.0  # relative (log-normal) measurement noise on P_core, P_bw and latency
    backend: str = "analytical"
    heldout_fraction: float = 0.2  # networks that appear only in val
    shards: int | None = None  # files per split; None: 4, more when a file would exceed MAX_SHARD_ROWS rows
    ray_address: str | None = None  # None: local; "auto", "local" or a cluster address
    settings: OracleSettings = field(default_factory=OracleSettings)
    search_space: str = DEFAULT_SPACES  # "NAME[:SHARE],..." (parse_spaces)
    include_reference: bool = False  # torchvision reference networks are zoo models: evaluation only by default

    def __post_init__(self) -> None:
        checks = [
            (self.networks >= 1, f"networks must be >= 1, got {self.networks}"),
            (self.train_rows >= 1, f"train rows must be >= 1, got {self.train_rows}"),
            (self.val_rows >= 1, f"val rows must be >= 1, got {self.val_rows}"),
            (0 <= self.noise < 1, f"noise must be in [0, 1), got {self.noise}"),
            (self.backend in BACKENDS, f"backend must be one of {list(BACKENDS)}, got {self.backend!r}"),
            (0 < self.heldout_fraction < 1, f"heldout fraction must be in (0, 1), got {self.heldout_fraction}"),
            (self.shards is None or self.shards >= 1, f"shards must be >= 1, got {self.shards}"),
            # ZigZag costs one layer at a time: it has no inter-layer schedule to honour.
            (self.backend != "zigzag" or self.settings.schedule == "layer",
             "backend zigzag costs layer by layer: use schedule 'layer' (--schedule layer)"),
            # ZigZag computes its own latency: a fitted cycle overhead (--tech) cannot apply to it.
            (self.backend != "zigzag" or self.settings.cycle_overhead == 1.0,
             "backend zigzag ignores the fitted cycle overhead of --tech: use the analytical backend"),
        ]
        for ok, problem in checks:
            if not ok:
                raise InputError(problem, where="generate options")
        parse_spaces(self.search_space)  # a clear error now rather than at sampling


def parse_spaces(spec: str) -> dict[str, float]:
    """``"ofa-mbv3:2,resnet,mixed:0.5"`` -> {space: share} (a missing share is 1), in the order given."""
    from ..networks.spaces import SEARCH_SPACES, unknown_space

    shares: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        name, _, share = part.partition(":")
        name = name.strip()
        if not name:
            raise InputError(f"empty search space name in {spec!r}", where="--spaces")
        if name not in SEARCH_SPACES:
            raise unknown_space(name)
        if name in shares:
            raise InputError(f"search space {name!r} named twice in {spec!r}", where="--spaces")
        try:
            value = float(share) if share.strip() else 1.0
        except ValueError:
            raise InputError(f"share of {name!r} must be a number, got {share!r}", where="--spaces") from None
        if not value > 0:
            raise InputError(f"share of {name!r} must be > 0, got {share!r}", where="--spaces")
        shares[name] = value
    return shares


def space_counts(spec: str, n: int) -> dict[str, int]:
    """``n`` networks split over the spaces by share (largest remainder; ties go to the earlier space).
    A space whose share rounds to no network is left out."""
    shares = parse_spaces(spec)
    weights = np.array(list(shares.values()))
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - int(counts.sum())]:
        counts[i] += 1
    return {name: int(c) for name, c in zip(shares, counts, strict=True) if c > 0}


def file_spaces(config: GenerateConfig) -> dict[str, str]:
    """Nets file stem -> the search space its networks come from (``reference`` for the references):
    recorded in the manifest so a benchmark can hold a family out."""
    counts = space_counts(config.search_space, config.networks)
    out = ({SAMPLED_STEM: next(iter(counts))} if len(parse_spaces(config.search_space)) == 1
           else {space_stem(name): name for name in counts})
    return out | ({REFERENCE_STEM: "reference"} if config.include_reference else {})


def space_stem(space: str) -> str:
    """The nets file of a space's networks in a multi-space run: ``nets_resnet``, ``nets_ofa-mbv3``."""
    return f"nets_{space}"


def example_config() -> GenerateConfig:
    """The embedded default dataset under examples/data/raw (45 networks from the default mix of
    search spaces): ``hwpower generate --out examples/data/raw --networks 45 --train-rows 5000
    --val-rows 1000 --seed 0 --force``."""
    return GenerateConfig(networks=45, train_rows=5000, val_rows=1000, seed=0, shards=4)


BLOCK_ROWS = 1 << 17  # Sobol points drawn, and rows evaluated and written, a block at a time (a power of 2)
MAX_SHARD_ROWS = 250_000  # ``shards=None`` (the default): 4 files per split, more when a file would exceed this


@dataclass
class Plan:
    """Networks and rows of both splits, drawn a block at a time so memory does not grow with the rows.

    ``net[split]``: each row's network (index into ``nets``, int32); ``shards[split]``: row ranges, one
    per output file; :meth:`shard_frames` yields each shard's hardware columns plus ``net``, in order
    (the training configurations are drawn while it runs: ``configs`` counts them when it is done)."""

    nets: list[Network]
    keys: list[str]  # "nets_0/17" per network, aligned with ``nets``
    files: dict[str, dict[int, Network]]  # nets file stem -> {id: network}
    heldout: list[str]
    net: dict[str, np.ndarray]
    shards: dict[str, list[tuple[int, int]]]
    space: HardwareSpace
    seeds: dict[str, int]  # Sobol seed per split
    val_codes: np.ndarray  # the distinct validation configurations (grid codes, sorted)
    configs: dict[str, int] = field(default_factory=dict)  # distinct configurations per split, once drawn

    def shard_frames(self, split: str) -> Iterator[pd.DataFrame]:
        """Each shard's rows (hardware columns and ``net``), in shard order."""
        blocks = _val_blocks(self) if split == "val" else _train_blocks(self)
        pending: list[pd.DataFrame] = []
        have = 0
        for a, b in self.shards[split]:
            while have < b - a:
                block = next(blocks)
                pending.append(block)
                have += len(block)
            frame = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)
            rest = frame.iloc[b - a:]
            frame = frame.iloc[: b - a].copy()
            frame["net"] = self.net[split][a:b].astype(np.int64)
            pending, have = ([rest] if len(rest) else []), len(rest)
            yield frame
        blocks.close()

    @functools.cached_property
    def rows(self) -> dict[str, pd.DataFrame]:
        """Every row of both splits at once (for small plans: tests, inspection)."""
        return {split: pd.concat(list(self.shard_frames(split)), ignore_index=True) for split in ("train", "val")}


def sub_seed(seed: int, *path: int) -> int:
    """A 32-bit seed derived from (seed, path): independent streams per purpose, split and shard."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def _networks(config: GenerateConfig) -> dict[str, dict[int, Network]]:
    counts = space_counts(config.search_space, config.networks)
    if len(parse_spaces(config.search_space)) == 1:  # one space: nets_0.json, as before
        files = {SAMPLED_STEM: sample_networks(next(iter(counts)), config.networks, sub_seed(config.seed, 0))}
    else:  # one file per space, each with its own seed stream (by name: adding a space changes no other)
        files = {space_stem(name): sample_networks(name, n, sub_seed(config.seed, 0, zlib.crc32(name.encode())))
                 for name, n in counts.items()}
    if config.include_reference:
        from ..networks.reference import reference_networks  # packaged torchvision reference networks

        files[REFERENCE_STEM] = dict(enumerate(reference_networks().values()))
    return files


def _sobol_blocks(space: HardwareSpace, seed: int) -> Iterator[pd.DataFrame]:
    """The points of ``HardwareSpace.sample(n, seed)`` for every n, a block at a time: the Sobol
    sequence is one sequence, of which ``sample`` takes a prefix."""
    sobol = qmc.Sobol(d=len(space.params), scramble=True, seed=seed)
    while True:
        yield space.from_unit(sobol.random(BLOCK_ROWS))


def _val_blocks(plan: Plan) -> Iterator[pd.DataFrame]:
    n = len(plan.net["val"])
    for start, block in zip(range(0, n, BLOCK_ROWS), _sobol_blocks(plan.space, plan.seeds["val"])):
        yield block.iloc[: n - start]


def _val_codes(space: HardwareSpace, n: int, seed: int) -> np.ndarray:
    codes = _Distinct()
    for start, block in zip(range(0, n, BLOCK_ROWS), _sobol_blocks(space, seed)):
        codes.add(space.codes(block.iloc[: n - start]))
    return codes.values()


def _train_blocks(plan: Plan) -> Iterator[pd.DataFrame]:
    """Space-filling configurations none of which is a validation configuration: the first ``n`` such
    points of the Sobol sequence (looked for among its first 128 n + V points, V the validation
    configurations; as many as eight doublings of the draw reach)."""
    space, n = plan.space, len(plan.net["train"])
    limit = 128 * n + len(plan.val_codes)
    found, seen, distinct = 0, 0, _Distinct()
    if space.grid_size <= 1 << 28:  # a lookup table: several times faster than np.isin
        table = np.zeros(space.grid_size, dtype=bool)
        table[plan.val_codes] = True
        is_val = table.take
    else:
        is_val = partial(np.isin, test_elements=plan.val_codes)
    for block in _sobol_blocks(space, plan.seeds["train"]):
        if found >= n:
            break
        if seen >= limit:
            raise InputError(f"the validation configurations cover too much of the grid ({space.grid_size} points) "
                             f"to draw {n} distinct training configurations; use fewer val rows or a finer grid")
        block = block.iloc[: limit - seen]
        seen += len(block)
        codes = space.codes(block)
        keep = ~is_val(codes)
        kept = block[keep].iloc[: n - found]
        distinct.add(codes[keep][: n - found])
        found += len(kept)
        if found >= n:
            plan.configs["train"] = len(distinct.values())
        yield kept


class _Distinct:
    """Distinct int64 values seen over many blocks, merged when the unmerged ones outgrow the merged."""

    def __init__(self) -> None:
        self.merged, self.pending, self.size = np.empty(0, np.int64), [], 0

    def add(self, values: np.ndarray) -> None:
        self.pending.append(np.unique(values))
        self.size += len(self.pending[-1])
        if self.size > max(len(self.merged), 1 << 20):
            self.values()

    def values(self) -> np.ndarray:
        if self.pending:
            self.merged = np.unique(np.concatenate([self.merged, *self.pending]))
            self.pending, self.size = [], 0
        return self.merged


def _split_shards(n: int, shards: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, min(shards, n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def shard_count(config: GenerateConfig, rows: int) -> int:
    """Files of a split: ``config.shards``, or by default 4, more when a file would exceed MAX_SHARD_ROWS."""
    return config.shards if config.shards is not None else max(4, -(-rows // MAX_SHARD_ROWS))


def _balanced(n: int, choices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``choices[rng.permutation(np.arange(n) % len(choices))]`` as int32, shuffled in place (the
    same permutation: ``permutation`` shuffles a copy), so 20M rows take 160 MB rather than 480."""
    order = np.arange(n, dtype=np.int32)
    order %= len(choices)
    rng.shuffle(order)
    return choices.astype(np.int32)[order]


def make_plan(config: GenerateConfig) -> Plan:
    files = _networks(config)
    nets = [net for stem in files for net in files[stem].values()]
    keys = [f"{stem}/{i}" for stem in files for i in files[stem]]
    rng = np.random.default_rng(sub_seed(config.seed, 1))
    n_held = min(max(1, round(config.heldout_fraction * len(nets))), len(nets) - 1)
    if n_held < 1:
        raise InputError("need at least two networks to hold some out", where="generate options")
    held = np.sort(rng.choice(len(nets), n_held, replace=False))
    seen = np.setdiff1d(np.arange(len(nets)), held)
    seeds = {"val": sub_seed(config.seed, 2), "train": sub_seed(config.seed, 3)}
    val_codes = _val_codes(config.space, config.val_rows, seeds["val"])
    # Balanced network assignment: every network of a split appears equally often (+-1).
    net = {"train": _balanced(config.train_rows, seen, rng), "val": _balanced(config.val_rows, np.arange(len(nets)), rng)}
    shards = {split: _split_shards(len(v), shard_count(config, len(v))) for split, v in net.items()}
    return Plan(nets, keys, files, [keys[i] for i in held], net, shards, config.space, seeds, val_codes,
                {"val": len(val_codes)})
