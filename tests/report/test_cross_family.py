"""The cross-family section's pieces: families from network keys, row-weighted errors, the figure."""

from __future__ import annotations

import pandas as pd
import pytest

from hwpower.report.artifacts import RunArtifacts
from hwpower.report.cross_family import cross_family_figure, cross_family_section, family_of, per_family

from .conftest import PER_NETWORK, ZOO


def test_family_is_the_nets_file_stem():
    assert family_of("nets_ofa-mbv3/3") == "ofa-mbv3"
    assert family_of("nets_mixed/12") == "mixed"
    assert family_of("mine/0") == "mine"


def test_per_family_weights_networks_by_their_rows():
    table = per_family(pd.DataFrame(PER_NETWORK)).set_index(["family", "split"])
    assert table.loc[("0", "hardware")].to_dict() == {"networks": 2, "rows": 40, "mape_pct": pytest.approx(7.0),
                                                      "worst_network": "nets_0/2", "worst_mape_pct": 8.0}
    assert table.loc[("0", "networks"), "mape_pct"] == 6.0
    assert list(table.index) == [("0", "hardware"), ("0", "networks"), ("resnet", "networks")]


def test_figure_is_labelled_with_zoo_and_without(assert_labelled):
    families = per_family(pd.DataFrame(PER_NETWORK))
    fig = cross_family_figure(families, pd.DataFrame(ZOO))
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["resnet18", "alexnet"]
    assert fig.axes[1].patches[1].get_hatch() == "//" and not fig.axes[1].patches[0].get_hatch()  # alexnet warned
    assert_labelled(fig)
    assert len(cross_family_figure(families, None).axes) == 1


def test_section_says_why_it_is_empty(tmp_path):
    assert "per-network evaluation" in cross_family_section(RunArtifacts(tmp_path)).omitted
    run = RunArtifacts(tmp_path, evaluation={"per_network": PER_NETWORK})
    section = cross_family_section(run)
    assert section.omitted is None and [i.name for i in section.items] == ["cross_family", "error_by_family"]
    assert "no zoo.json" in section.items[1].caption
