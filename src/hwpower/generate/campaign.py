"""``generate``: write the seed's raw data (nets files, train/val shards, manifest) into a folder."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from .. import __version__
from ..io import atomic_dir, check_output_dir
from ..networks import Network
from ..networks.jsonio import dumps_networks
from ..oracle import ORACLE_VERSION
from .plan import GenerateConfig, Plan, file_spaces, make_plan, sub_seed
from .shards import ShardTask, make_oracle, shard_text, write_shard

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
MANIFEST = "manifest.json"


def _tasks(plan: Plan, config: GenerateConfig) -> Iterator[tuple[str, ShardTask]]:
    """Every shard's work, in file order, made as it is asked for (a shard's rows at a time)."""
    for code, split in enumerate(SPLITS):
        for s, hw in enumerate(plan.shard_frames(split)):
            yield f"{split}_{s}.txt", ShardTask(hw=hw, keys=plan.keys, noise=config.noise,
                                                noise_seed=sub_seed(config.seed, 4, code, s), backend=config.backend,
                                                settings=config.settings)


def _run_local(nets: Sequence[Network], tasks: Iterable[tuple[str, ShardTask]], folder: Path,
               advance: Callable[[], None]) -> dict[str, str]:
    """Each shard written straight to its file; the sha256 per file."""
    hashes: dict[str, str] = {}
    oracle = None  # one for every shard: it caches per-network work
    for name, task in tasks:
        oracle = oracle or make_oracle(task.backend, task.settings)
        with open(folder / name, "wb") as sink:
            hashes[name] = write_shard(nets, task, sink, oracle)
        del task
        gc.collect()  # pandas frames of the shard sit in reference cycles: free them before the next shard
        advance()
    return hashes


def _run_ray(address: str, nets: Sequence[Network], tasks: Iterable[tuple[str, ShardTask]], folder: Path,
             advance: Callable[[], None]) -> dict[str, str]:
    """One Ray task per shard, a few per CPU of the cluster in flight at once (so the driver holds a
    bounded number of shards); each file is written as its task returns, so files equal a local run's."""
    from .cluster import ray_session

    with ray_session(address) as ray:
        remote = ray.remote(shard_text)
        nets_ref = ray.put(list(nets))
        limit = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        names: dict[Any, str] = {}
        hashes: dict[str, str] = {}

        def finish(ref: Any) -> None:
            data = ray.get(ref)
            (folder / names[ref]).write_bytes(data)
            hashes[names.pop(ref)] = hashlib.sha256(data).hexdigest()
            advance()

        for name, task in tasks:
            if len(names) >= limit:
                done, _ = ray.wait(list(names), num_returns=1)
                finish(done[0])
            names[remote.remote(nets_ref, task)] = name
        while names:
            done, _ = ray.wait(list(names), num_returns=1)
            finish(done[0])
    return hashes


def _manifest(config: GenerateConfig, plan: Plan, hashes: dict[str, str]) -> dict[str, Any]:
    seen = np.zeros(len(plan.nets), dtype=bool)
    for a in range(0, len(plan.net["train"]), 1 << 20):  # in pieces: no 8-byte index copy of every row
        seen[plan.net["train"][a: a + (1 << 20)]] = True
    names = [f"{split}_{s}.txt" for split in SPLITS for s in range(len(plan.shards[split]))]
    n_rows = dict(zip(names, (b - a for split in SPLITS for a, b in plan.shards[split]), strict=True))
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
            "train_rows": len(plan.net["train"]),
            "val_rows": len(plan.net["val"]),
            "train_configs": plan.configs["train"],
            "val_configs": plan.configs["val"],
            "val_rows_unseen_network": int((~seen[plan.net["val"]]).sum()),
        },
        "files": {name: {"rows": n_rows[name], "sha256": hashes[name]} for name in names},
    }


def generate(out_dir: str | os.PathLike[str], config: GenerateConfig) -> dict[str, Any]:
    """Write ``nets_*.json``, ``train_*.txt``, ``val_*.txt`` and ``manifest.json`` into ``out_dir``
    (replaced as a whole, atomically) and return the manifest. Same config, same bytes.

    Only a new or empty folder, or a previous ``generate`` output, is written (checked before the
    work); the command line also asks for ``--force`` for the latter."""
    out = Path(out_dir)
    check_output_dir(out, command="generate", force=True)
    plan = make_plan(config)
    n_shards = sum(len(v) for v in plan.shards.values())
    with atomic_dir(out, command="generate") as tmp, Progress(transient=True) as progress:
        # Plain writes inside the temporary folder: the folder as a whole is renamed into place.
        for stem, nets in plan.files.items():
            (tmp / f"{stem}.json").write_text(dumps_networks(nets), encoding="utf-8")
        bar = progress.add_task(f"generating {n_shards} shards ({config.backend})", total=n_shards)
        advance = lambda: progress.advance(bar)  # noqa: E731
        run = partial(_run_ray, config.ray_address) if config.ray_address else _run_local
        hashes = run(plan.nets, _tasks(plan, config), tmp, advance)
        manifest = _manifest(config, plan, hashes)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes the folder private (0700); give it the mode the user's umask gives files,
        # plus search permission where there is read permission.
        file_mode = (tmp / MANIFEST).stat().st_mode & 0o777
        tmp.chmod(file_mode | (file_mode & 0o444) >> 2)
    log.info("wrote %d train and %d val rows to %s", manifest["counts"]["train_rows"],
             manifest["counts"]["val_rows"], out)
    return manifest
