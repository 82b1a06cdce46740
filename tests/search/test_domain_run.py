"""The trust region (data bounds and density) and the per-run search files built from real data."""

import json

import numpy as np
import pandas as pd
import pytest

from hwpower.search import Domain, RecoverQuery, SearchContext, kmeans_starts, recover
from hwpower.search.descent import DescentConfig

from .conftest import FakeOracle, FakePredictor


def test_domain_flags_points_far_from_the_data(space, train_hw, tmp_path):
    small = train_hw[(train_hw.pe_rows <= 8) & (train_hw.glb_kib <= 128)]
    dom = Domain.fit(small, space)
    probe = pd.DataFrame([dict(pe_rows=8, pe_cols=8, glb_kib=64, dram_gbps=8, freq_mhz=600, bits=8, dataflow="ws"),
                          dict(pe_rows=32, pe_cols=8, glb_kib=64, dram_gbps=8, freq_mhz=600, bits=8, dataflow="ws")])
    ann = dom.annotate(probe)
    assert ann["in_domain"].tolist() == [True, False]
    assert ann["ood_score"].iloc[1] > 1 >= ann["ood_score"].iloc[0]
    dom.save(tmp_path / "d.parquet")
    back = Domain.load(tmp_path / "d.parquet", space)
    np.testing.assert_allclose(back.score(probe), dom.score(probe))


def test_search_stays_inside_the_training_data_bounds(space, train_hw, nets):
    small = train_hw[(train_hw.pe_rows <= 8) & (train_hw.glb_kib <= 128)]
    ctx = SearchContext(FakePredictor(), space, Domain.fit(small, space), kmeans_starts(small, space, k=3),
                        oracle=FakeOracle(), n_random=4, config=DescentConfig(steps=40, snap_every=20))
    hw = pd.DataFrame([dict(pe_rows=32, pe_cols=32, glb_kib=512, dram_gbps=32, freq_mhz=1000, bits=16, dataflow="os")])
    target = float(FakeOracle().evaluate(nets[0], hw)["P"][0])  # reachable only outside the data
    c = recover(ctx, [RecoverQuery(nets[0], {"P": target})], verify=True).candidates
    assert (c.pe_rows <= 8).all() and (c.glb_kib <= 128).all() and c.in_domain.all()


@pytest.mark.slow
def test_prepare_from_generated_and_processed_data(tmp_path):
    from hwpower.generate import GenerateConfig, generate
    from hwpower.processing import process
    from hwpower.search.run_context import load_context, read_data

    generate(tmp_path / "raw", GenerateConfig(networks=6, train_rows=400, val_rows=60, seed=1, shards=1))
    process(tmp_path / "raw", tmp_path / "proc", progress=False)
    info = read_data(tmp_path / "proc")
    assert len(info.train_hw) == 400 and set(info.train_networks) <= set(info.networks)
    ctx = load_context(tmp_path / "run", tmp_path / "proc", k=3, predictor=object())
    saved = json.loads((tmp_path / "run" / "search" / "context.json").read_text())
    assert saved["oracle_settings"]["tech_nm"] == 45 and ctx.starts.k == 3
    assert ctx.domain.low["pe_rows"] == info.train_hw.pe_rows.min()
    again = load_context(tmp_path / "run", predictor=object())  # from the files saved with the run
    pd.testing.assert_frame_equal(again.starts.centroids, ctx.starts.centroids)
    net = next(iter(info.networks.values()))
    out = again.oracle.evaluate(net, info.train_hw.head(2))
    assert (out["P"] > 0).all()


def test_load_context_without_saved_search_data_says_what_to_do(tmp_path):
    from hwpower.errors import InputError
    from hwpower.search.run_context import load_context

    with pytest.raises(InputError, match="pass --data PROCESSED_DIR once"):
        load_context(tmp_path / "run", predictor=object())
