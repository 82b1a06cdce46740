import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.search import StartPoints, choose_k, kmeans_starts
from hwpower.search.gridview import GridView


def test_choose_k_finds_three_separated_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]])
    X = np.concatenate([c + 0.02 * rng.standard_normal((100, 2)) for c in centers])
    choice = choose_k(X, range(2, 8), seed=0)
    assert choice.k == 3
    assert choice.criterion == "silhouette"
    assert set(choice.silhouette) == set(range(2, 8))
    assert choice.silhouette[3] == max(choice.silhouette.values())
    assert choice.inertia[2] > choice.inertia[3] > choice.inertia[7]


def test_choose_k_needs_more_points_than_k():
    with pytest.raises(InputError, match="more points than k"):
        choose_k(np.zeros((2, 2)), range(2, 5))


def test_kmeans_starts_in_hardware_units_inside_bounds(space, train_hw):
    st = kmeans_starts(train_hw, space, k=5, seed=0)
    view = GridView.from_space(space)
    assert st.k == 5 and list(st.centroids.columns) == list(view.numeric)
    for name, lo, hi in zip(view.numeric, view.low, view.high):
        assert st.centroids[name].between(lo, hi).all()
    # log-scaled parameters are averaged on the log axis: centroids stay strictly inside
    assert (st.centroids["glb_kib"] > 32).all() and (st.centroids["glb_kib"] < 512).all()


def test_kmeans_starts_same_seed_same_result_and_roundtrip(space, train_hw, tmp_path):
    a = kmeans_starts(train_hw.head(600), space, seed=4, k_range=range(2, 6))
    b = kmeans_starts(train_hw.head(600), space, seed=4, k_range=range(2, 6))
    pd.testing.assert_frame_equal(a.centroids, b.centroids)
    assert a.choice is not None and a.k == a.choice.k
    a.save(tmp_path / "starts.json")
    c = StartPoints.load(tmp_path / "starts.json")
    np.testing.assert_allclose(c.centroids.to_numpy(float), a.centroids.to_numpy(float))
    assert c.choice.silhouette == a.choice.silhouette


def test_kmeans_starts_bad_input(space, train_hw, tmp_path):
    with pytest.raises(InputError, match="no training hardware"):
        kmeans_starts(train_hw.head(0), space)
    with pytest.raises(InputError, match="missing hardware column"):
        kmeans_starts(train_hw.drop(columns=["glb_kib"]), space)
    bad = tmp_path / "starts.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="starts.json"):
        StartPoints.load(bad)
