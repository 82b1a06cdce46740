"""`generate --ray`: shards as Ray tasks on a local 2-CPU Ray instance write the local run's bytes."""

from __future__ import annotations

import dataclasses

import pytest

from hwpower.generate import GenerateConfig, generate

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_output_equals_local_output(local_ray, tmp_path):
    config = GenerateConfig(networks=4, train_rows=200, val_rows=60, seed=11, shards=3, noise=0.05)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    generate(local, config)
    manifest = generate(distributed, dataclasses.replace(config, ray_address="auto"))
    assert ray.is_initialized()  # an existing Ray instance is used and left running
    assert sorted(p.name for p in local.iterdir()) == sorted(p.name for p in distributed.iterdir())
    for f in local.iterdir():
        assert (distributed / f.name).read_bytes() == f.read_bytes(), f.name
    assert manifest["counts"]["train_rows"] == 200
