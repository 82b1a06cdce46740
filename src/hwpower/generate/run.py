"""``generate``: write the seed's raw data (nets files, train/val shards, manifest) into a folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from .. import __version__
from ..errors import HwpowerError
from ..io import atomic_dir, check_output_dir
from ..networks import Network
from ..networks.jsonio import dumps_networks
from ..oracle import ORACLE_VERSION
from .plan import GenerateConfig, Plan, file_spaces, make_plan, sub_seed
from .shards import ShardTask, make_oracle, shard_text

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
MANIFEST = "manifest.json"


def _tasks(plan: Plan, config: GenerateConfig) -> list[tuple[str, ShardTask]]:
    tasks = []
    for code, split in enumerate(SPLITS):
        for s, (a, b) in enumerate(plan.shards[split]):
            task = ShardTask(hw=plan.rows[split].iloc[a:b], keys=plan.keys, noise=config.noise,
                             noise_seed=sub_seed(config.seed, 4, code, s), backend=config.backend,
                             settings=config.settings)
            tasks.append((f"{split}_{s}.txt", task))
    return tasks


def _run_local(nets: Sequence[Network], tasks: list[ShardTask], advance: Callable[[], None]) -> list[bytes]:
    out = []
    oracle = make_oracle(tasks[0].backend, tasks[0].settings)  # shared: it caches per-network work
    for task in tasks:
        out.append(shard_text(nets, task, oracle))
        advance()
    return out


def _run_ray(address: str, nets: Sequence[Network], tasks: list[ShardTask], advance: Callable[[], None]) -> list[bytes]:
    """One Ray task per shard; results are collected in shard order, so files equal a local run's."""
    try:
        import ray
    except ImportError:
        raise HwpowerError("--ray needs the ray package (pip install 'ray>=2.9')") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    try:
        nets_ref = ray.put(list(nets))
        remote = ray.remote(shard_text)
        refs = [remote.remote(nets_ref, t) for t in tasks]
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            advance()
        return ray.get(refs)
    finally:
        if started:
            ray.shutdown()


def _manifest(config: GenerateConfig, plan: Plan, files: dict[str, bytes], n_rows: dict[str, int]) -> dict[str, Any]:
    seen = set(plan.rows["train"]["net"])
    space = config.space
    return {
        "hwpower_version": __version__,
        "oracle_version": ORACLE_VERSION,
        "backend": config.backend,
        "oracle_settings": config.settings.to_dict(),
        "seed": config.seed,
        "noise": config.noise,
        "search_space": config.search_space,
        "spaces": file_spaces(config),  # nets file stem -> search space (or "reference")
        "heldout_fraction": config.heldout_fraction,
        "heldout_networks": plan.heldout,
        "space": space.to_dict(),
        "counts": {
            "networks": len(plan.nets),
            "networks_by_file": {stem: len(nets) for stem, nets in plan.files.items()},
            "train_rows": len(plan.rows["train"]),
            "val_rows": len(plan.rows["val"]),
            "train_configs": int(len(np.unique(space.codes(plan.rows["train"])))),
            "val_configs": int(len(np.unique(space.codes(plan.rows["val"])))),
            "val_rows_unseen_network": int((~plan.rows["val"]["net"].isin(seen)).sum()),
        },
        "files": {name: {"rows": n_rows[name], "sha256": hashlib.sha256(data).hexdigest()}
                  for name, data in files.items()},
    }


def generate(out_dir: str | os.PathLike[str], config: GenerateConfig) -> dict[str, Any]:
    """Write ``nets_*.json``, ``train_*.txt``, ``val_*.txt`` and ``manifest.json`` into ``out_dir``
    (replaced as a whole, atomically) and return the manifest. Same config, same bytes.

    Only a new or empty folder, or a previous ``generate`` output, is written (checked before the
    work); the command line also asks for ``--force`` for the latter."""
    out = Path(out_dir)
    check_output_dir(out, command="generate", force=True)
    plan = make_plan(config)
    named = _tasks(plan, config)
    tasks = [t for _, t in named]
    with Progress(transient=True) as progress:
        bar = progress.add_task(f"generating {len(tasks)} shards ({config.backend})", total=len(tasks))
        advance = lambda: progress.advance(bar)  # noqa: E731
        if config.ray_address:
            texts = _run_ray(config.ray_address, plan.nets, tasks, advance)
        else:
            texts = _run_local(plan.nets, tasks, advance)
    files = {name: text for (name, _), text in zip(named, texts, strict=True)}
    n_rows = {name: len(t.hw) for name, t in named}
    manifest = _manifest(config, plan, files, n_rows)
    with atomic_dir(out, command="generate") as tmp:
        # Plain writes inside the temporary folder: the folder as a whole is renamed into place.
        for stem, nets in plan.files.items():
            (tmp / f"{stem}.json").write_text(dumps_networks(nets), encoding="utf-8")
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes the folder private (0700); give it the mode the user's umask gives files,
        # plus search permission where there is read permission.
        file_mode = (tmp / MANIFEST).stat().st_mode & 0o777
        tmp.chmod(file_mode | (file_mode & 0o444) >> 2)
    log.info("wrote %d train and %d val rows to %s", manifest["counts"]["train_rows"],
             manifest["counts"]["val_rows"], out)
    return manifest
