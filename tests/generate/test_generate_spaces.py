"""A multi-space generate: every space's networks in their own nets file, recorded in the manifest,
deterministic from the seed; shares split the networks; bad specs are clear errors."""

from __future__ import annotations

import json

import pytest

from hwpower.errors import InputError
from hwpower.generate import GenerateConfig, generate
from hwpower.generate.plan import DEFAULT_SPACES, parse_spaces, space_counts
from hwpower.networks.jsonio import read_networks

SPACES = ("ofa-mbv3", "resnet", "transformer", "mixed")
SMALL = dict(networks=8, train_rows=120, val_rows=40, seed=3, shards=2)


def test_default_recipe_is_the_cross_family_mix_without_zoo_models():
    config = GenerateConfig()
    assert tuple(parse_spaces(config.search_space)) == SPACES and config.search_space == DEFAULT_SPACES
    assert not config.include_reference
    assert (config.networks, config.train_rows, config.val_rows) == (300, 30_000, 3_000)  # the benchmark-backed default


def test_each_space_has_its_file_and_same_seed_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    manifest = generate(a, GenerateConfig(**SMALL))
    generate(b, GenerateConfig(**SMALL))
    assert manifest["spaces"] == {f"nets_{s}": s for s in SPACES}
    assert manifest["counts"]["networks_by_file"] == {f"nets_{s}": 2 for s in SPACES}
    for s in SPACES:
        assert len(read_networks(a / f"nets_{s}.json")) == 2
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for f in a.iterdir():
        assert (b / f.name).read_bytes() == f.read_bytes(), f.name
    text = "".join((a / n).read_text() for n in ("train_0.txt", "train_1.txt", "val_0.txt", "val_1.txt"))
    for s in SPACES:
        assert f"nets_{s}/" in text
    assert json.loads((a / "manifest.json").read_text())["search_space"] == DEFAULT_SPACES


def test_shares_and_single_space(tmp_path):
    assert space_counts("ofa-mbv3:2,resnet:1,mixed:1", 8) == {"ofa-mbv3": 4, "resnet": 2, "mixed": 2}
    assert space_counts(DEFAULT_SPACES, 2) == {"ofa-mbv3": 1, "resnet": 1}
    manifest = generate(tmp_path / "one", GenerateConfig(**{**SMALL, "search_space": "resnet"}))
    assert manifest["spaces"] == {"nets_0": "resnet"}


@pytest.mark.parametrize("spec", ["resnet,nope", "resnet,resnet", "resnet:x", "resnet:0", ",resnet"])
def test_bad_spec_is_a_clear_error(spec):
    with pytest.raises(InputError):
        GenerateConfig(search_space=spec)
