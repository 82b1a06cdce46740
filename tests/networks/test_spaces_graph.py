"""The operator-graph search spaces: valid, deterministic, distinct, in range, and costed by the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from hwpower.errors import InputError
from hwpower.networks import GraphNetwork, read_networks, sample_networks, write_networks
from hwpower.networks.jsonio import dumps_networks
from hwpower.networks.layers import LayerOp
from hwpower.networks.spaces import SEARCH_SPACES, graph_key
from hwpower.networks.spaces.resnet import _ZOO, Choices, ResNetSpace, build_resnet
from hwpower.networks.spaces.transformer import Choices as TChoices
from hwpower.networks.spaces.transformer import TransformerSpace, build_transformer

GRAPH_SPACES = ("resnet", "transformer", "mixed")
N = 12


@pytest.fixture(scope="module")
def sampled():
    return {space: sample_networks(space, N, seed=5) for space in GRAPH_SPACES}


def test_registry_lists_every_space():
    assert set(SEARCH_SPACES) == {"ofa-mbv3", *GRAPH_SPACES}


@pytest.mark.parametrize("space", GRAPH_SPACES)
def test_valid_distinct_and_deterministic(space, sampled):
    nets = sampled[space]
    assert sorted(nets) == list(range(N))
    for net in nets.values():  # the JSON form is validated again from scratch: shapes and attributes
        assert isinstance(net, GraphNetwork) and GraphNetwork.from_dict(net.to_dict()) == net
    assert len({graph_key(net) for net in nets.values()}) == N
    assert dumps_networks(sample_networks(space, N, seed=5)) == dumps_networks(nets)
    assert dumps_networks(sample_networks(space, N, seed=6)) != dumps_networks(nets)


@pytest.mark.parametrize("space", GRAPH_SPACES)
def test_round_trip_through_the_nets_file(space, sampled, tmp_path):
    path = tmp_path / f"nets_{space}.json"
    write_networks(path, sampled[space])
    back = read_networks(path)
    assert back == sampled[space]
    assert [n.counts for n in back.values()] == [n.counts for n in sampled[space].values()]


@pytest.mark.parametrize("space", GRAPH_SPACES)
def test_oracle_power_is_finite_and_positive(space, sampled):
    from hwpower.oracle import HardwareSpace, Oracle

    hw = HardwareSpace.default().sample(6, 0)
    oracle = Oracle()
    for net in list(sampled[space].values())[:3]:
        out = oracle.evaluate(net, hw)
        assert np.isfinite(out["P"]).all() and (out["P"] > 0).all() and (out["latency_ms"] > 0).all()
        assert np.allclose(out["P"], out["P_core"] + out["P_bw"])


def _move_fns(net: GraphNetwork) -> set[str]:
    return {op.attr("fn") for op in net.ops if op.kind is LayerOp.MOVE}


def _grouped(net: GraphNetwork) -> bool:
    """A grouped convolution that is neither dense nor depthwise."""
    return any(op.kind is LayerOp.CONV and 1 < op.attr("groups") < op.in_shapes[0][1] for op in net.ops)


def test_transformer_kinds_and_ranges(sampled):
    nets = list(sampled["transformer"].values())
    for net in nets:
        assert {"matmul", "softmax", "norm", "linear"} <= net.kinds()
        assert net.kinds() & {"embedding", "conv2d"}  # token table or patch embedding
        matmuls = [op for op in net.ops if op.kind is LayerOp.MATMUL]
        n, heads, length, d = matmuls[0].in_shapes[0]  # Q: (batch, heads, tokens, head width)
        assert n == 1 and 3 <= heads <= 16 and 192 <= heads * d <= 1024
        assert 2 <= len(matmuls) // 2 <= 24  # two per block
        assert matmuls[0].in_shapes[1] == (1, heads, d, length)  # K^T
        if "embedding" in net.kinds():
            assert 64 <= net.input_shape[1] <= 512
        else:
            assert 128 <= net.input_resolution <= 320
    variants = {net.name.split("-")[0] for net in nets}
    assert variants == {"vit", "encoder", "decoder"}


def test_mixed_space_has_concat_shuffle_slice_and_grouped_convolutions(sampled):
    nets = list(sampled["mixed"].values())
    assert set.union(*(_move_fns(n) for n in nets)) >= {"concat", "shuffle", "slice"}
    assert any(_grouped(n) for n in nets)
    for net in nets:
        assert 128 <= net.input_resolution <= 320
        assert max(op.out_shape[1] for op in net.ops if op.kind is LayerOp.CONV) <= 2048


def test_resnet_space_ranges_and_residuals(sampled):
    nets = list(sampled["resnet"].values())
    assert any(_grouped(n) for n in nets)
    for net in nets:
        convs = [op for op in net.ops if op.kind is LayerOp.CONV and op.out_shape[2] > 1]  # not squeeze-excite
        assert 128 <= net.input_resolution <= 320 and 16 <= min(op.out_shape[1] for op in convs)
        assert max(op.out_shape[1] for op in convs) <= 2048
        assert any(op.kind is LayerOp.ELTWISE and len(op.inputs) == 2 for op in net.ops)  # residual adds


# torchvision's parameter counts (sum of p.numel() over model.parameters()).
TORCHVISION_WEIGHTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                       "resnet101": 44_549_160, "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904,
                       "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696}


def test_excluded_zoo_configurations_are_the_zoo_models():
    # The exclusion list means something: each entry builds torchvision's model exactly.
    built = sorted(build_resnet(Choices(*key)).counts.weights for key in _ZOO)
    assert built == sorted(TORCHVISION_WEIGHTS.values())
    vit_b16 = build_transformer(TChoices("vit", 12, 12, 64, 4.0, patch=16, resolution=224))
    assert vit_b16.counts.weights == 86_567_656  # torchvision vit_b_16
    assert TChoices("vit", 12, 12, 64, 4.0, patch=16, resolution=224).is_zoo()


def test_zoo_draws_are_redrawn(monkeypatch):
    resnet50 = Choices(*next(k for k in _ZOO if k[3] == (3, 4, 6, 3) and k[6] == 4 and k[7] == 1))
    other = Choices(*{**resnet50.__dict__, "resolution": 192}.values())
    draws = iter([resnet50, other])
    monkeypatch.setattr(ResNetSpace, "draw", lambda self, rng: next(draws))
    _, net = ResNetSpace().sample(np.random.default_rng(0))
    assert net.input_resolution == 192
    vit = TChoices("vit", 12, 12, 64, 4.0, patch=16, resolution=224)
    draws_t = iter([vit, TChoices("vit", 12, 12, 64, 4.0, patch=16, resolution=256)])
    monkeypatch.setattr(TransformerSpace, "draw", lambda self, rng: next(draws_t))
    _, net = TransformerSpace().sample(np.random.default_rng(0))
    assert net.input_resolution == 256


def test_progress_and_start_id():
    calls = []
    nets = sample_networks("mixed", 4, seed=0, start_id=10, progress=calls.append)
    assert sorted(nets) == [10, 11, 12, 13] and calls == [1, 2, 3, 4]


def test_unknown_space_suggests_close_names():
    with pytest.raises(InputError, match="unknown search space 'resnt'.*known: mixed, ofa-mbv3, resnet, "
                                         "transformer.*did you mean resnet"):
        sample_networks("resnt", 2, seed=0)
