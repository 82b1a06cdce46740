"""Bounded memory: rows drawn, evaluated and written a block at a time give the bytes of one block,
and large splits get more files by default (docs/scale.md)."""

from __future__ import annotations

import json

import pytest

from hwpower.generate import GenerateConfig, generate, make_plan
from hwpower.generate import plan as plan_module
from hwpower.generate import shards as shards_module


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_small_blocks_write_the_same_bytes(tmp_path, monkeypatch):
    # 64-row blocks: shards of 250 and 87 rows span several blocks, blocks span shard edges
    config = GenerateConfig(networks=5, train_rows=500, val_rows=173, seed=7, shards=2, noise=0.03)
    whole = generate(tmp_path / "whole", config)
    monkeypatch.setattr(plan_module, "BLOCK_ROWS", 64)
    monkeypatch.setattr(shards_module, "BLOCK_ROWS", 64)
    blocks = generate(tmp_path / "blocks", config)
    assert _files(tmp_path / "whole") == _files(tmp_path / "blocks")
    assert whole["counts"]["train_configs"] == blocks["counts"]["train_configs"] > 400


def test_training_rows_avoid_every_validation_configuration(monkeypatch):
    monkeypatch.setattr(plan_module, "BLOCK_ROWS", 128)
    config = GenerateConfig(networks=3, train_rows=900, val_rows=400, seed=3)
    plan = make_plan(config)
    codes = {s: set(config.space.codes(plan.rows[s])) for s in ("train", "val")}
    assert not codes["train"] & codes["val"]
    assert plan.configs == {"train": len(codes["train"]), "val": len(codes["val"])}
    assert [len(f) for f in plan.shard_frames("train")] == [225] * 4


def test_default_shards_grow_with_the_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_module, "MAX_SHARD_ROWS", 100)
    manifest = generate(tmp_path / "raw", GenerateConfig(networks=3, train_rows=950, val_rows=120, seed=1))
    rows = {name: entry["rows"] for name, entry in manifest["files"].items()}
    assert [n for n in rows if n.startswith("train")] == [f"train_{i}.txt" for i in range(10)]
    assert max(rows.values()) <= 100 and sum(rows.values()) == 1070
    assert len([n for n in rows if n.startswith("val")]) == 4  # 4 files at least
    assert json.loads((tmp_path / "raw" / "manifest.json").read_text())["files"] == manifest["files"]


def test_too_few_training_configurations_is_an_error():
    from hwpower.errors import InputError
    from hwpower.oracle import HardwareSpace

    spec = HardwareSpace.default().to_dict()
    for name in ("pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps"):  # a grid of 10 x 2 x 2 = 40 points
        spec[name].update(grid=spec[name]["grid"][:1], high=spec[name]["low"])
    space = HardwareSpace.from_dict(spec)
    assert space.grid_size == 40
    with pytest.raises(InputError, match="cover too much of the grid"):  # 200 val rows take all 40
        list(make_plan(GenerateConfig(networks=3, train_rows=10, val_rows=200, seed=0, space=space)).shard_frames("train"))
