"""OFA-MobileNetV3 sampling: deterministic by seed, duplicate-free, inside the space."""

from __future__ import annotations

import numpy as np
import pytest

from hwpower.errors import InputError
from hwpower.networks import SEARCH_SPACES, sample_networks
from hwpower.networks.blocks import MBConvBlock


def test_same_seed_same_networks_other_seed_others():
    a = sample_networks("ofa-mbv3", 50, seed=3)
    assert a == sample_networks("ofa-mbv3", 50, seed=3)
    b = sample_networks("ofa-mbv3", 50, seed=4)
    assert list(a.values()) != list(b.values())


def test_no_duplicates_and_ids_count_from_start():
    nets = sample_networks("ofa-mbv3", 300, seed=0, start_id=100)
    assert sorted(nets) == list(range(100, 400))
    assert len(set(nets.values())) == 300


def test_sampled_networks_stay_in_the_space():
    for net in sample_networks("ofa-mbv3", 40, seed=1).values():
        assert net.input_resolution in (160, 176, 192, 208, 224)
        mb = [b for b in net.blocks if isinstance(b, MBConvBlock)][1:]  # the first is the fixed stem block
        widths = [b.out_channels for b in mb]
        stage_depths = [widths.count(w) for w in (24, 40, 80, 112, 160)]
        assert all(d in (2, 3, 4) for d in stage_depths) and sum(stage_depths) == len(mb)
        assert {b.kernel for b in mb} <= {3, 5, 7}
        assert {b.expand_ratio for b in mb} <= {3.0, 4.0, 6.0}
        assert [b.se for b in mb if b.stride == 2 or b.in_channels != b.out_channels] == [False, True, False, True, True]
        assert net.blocks[-1].out_shape == (1000, 1)


def test_largest_subnet_counts():
    # Depth 4, kernel 7, expand 6 everywhere at 224 px: the OFA "max" MobileNetV3 (width 1.0).
    space = SEARCH_SPACES["ofa-mbv3"]
    full = np.full((5, 4), 7)
    net = space.build(224, [4] * 5, full, np.full((5, 4), 6))
    smallest = space.build(160, [2] * 5, np.full((5, 4), 3), np.full((5, 4), 3))
    assert len(net.blocks) == 2 + 20 + 4
    # Regression values of this implementation (7.66 M weights, 566 M MACs), checked by hand against
    # the block expansion; a change in the space or in counting shows up here.
    assert net.counts.weights == 7_664_760
    assert net.counts.macs == 566_170_656
    assert smallest.counts.macs < net.counts.macs / 4


def test_unknown_space_is_a_clear_error():
    with pytest.raises(InputError, match="unknown search space 'nasnet'"):
        sample_networks("nasnet", 3, seed=0)
