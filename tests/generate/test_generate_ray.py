"""``--ray``: generate (a task per shard), process (a task per shard after the first) and oracle sweeps
(a task per block of rows) on a local 2-CPU Ray instance write exactly what a local run writes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hwpower.generate import GenerateConfig, generate
from hwpower.generate.sweep import SweepOracle, sweep
from hwpower.networks import sample_networks
from hwpower.oracle import HardwareSpace, Oracle
from hwpower.processing import process

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _same_files(a, b) -> None:
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for f in a.iterdir():
        assert (b / f.name).read_bytes() == f.read_bytes(), f.name


def test_ray_output_equals_local_output(local_ray, tmp_path):
    config = GenerateConfig(networks=4, train_rows=200, val_rows=60, seed=11, shards=3, noise=0.05)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    generate(local, config)
    manifest = generate(distributed, dataclasses.replace(config, ray_address="auto"))
    assert ray.is_initialized()  # an existing Ray instance is used and left running
    _same_files(local, distributed)
    assert manifest["counts"]["train_rows"] == 200 and len(manifest["files"]) == 6

    ds_local = process(local, tmp_path / "p-local", progress=False)
    ds_ray = process(local, tmp_path / "p-ray", progress=False, ray_address="auto")
    _same_files(tmp_path / "p-local", tmp_path / "p-ray")
    assert ds_ray.manifest["counts"]["train_rows"] == 200 and len(ds_ray.train) == 200
    pd.testing.assert_frame_equal(ds_ray.val, ds_local.val)


def test_ray_process_names_a_bad_shard_as_locally(local_ray, tmp_path):
    generate(tmp_path / "raw", GenerateConfig(networks=3, train_rows=90, val_rows=30, seed=2, shards=3))
    shard = tmp_path / "raw" / "train_2.txt"
    lines = shard.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace(" ws ", " xx ").replace(" os ", " xx ")
    shard.write_text("".join(lines))
    messages = []
    for address in (None, "auto"):
        with pytest.raises(ValueError) as err:
            process(tmp_path / "raw", tmp_path / f"out-{address}", progress=False, ray_address=address)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "train_2.txt" in messages[0] and "line 5" in messages[0]


def test_sweep_on_ray_equals_the_oracle(local_ray):
    nets = list(sample_networks("ofa-mbv3", 3, 0).values())
    hw = HardwareSpace.default().sample(700, 4)
    net_index = np.arange(len(hw)) % len(nets)
    expected = Oracle().evaluate_many(nets, net_index, hw)
    pd.testing.assert_frame_equal(sweep(nets, net_index, hw, ray="auto", block=256), expected)
    pd.testing.assert_frame_equal(sweep(nets, net_index, hw, block=256), expected)
    pd.testing.assert_frame_equal(SweepOracle(ray="auto", block=300).evaluate(nets[1], hw), Oracle().evaluate(nets[1], hw))
