import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hwpower.search.gridview import GridView

from .conftest import SPACE

VIEW = GridView.from_space(SPACE)


@given(arrays(np.float64, (7, len(VIEW.numeric)), elements=st.floats(0, 1)))
def test_unit_roundtrip_and_snap_is_idempotent_and_nearest(unit):
    df = VIEW.from_unit(unit)
    np.testing.assert_allclose(VIEW.to_unit(df), unit, atol=1e-9)
    snapped = VIEW.snap(df)
    pd.testing.assert_frame_equal(VIEW.snap(snapped), snapped)
    for j, (name, grid) in enumerate(zip(VIEW.numeric, VIEW.grids)):
        axis = np.log if VIEW.log[j] else (lambda x: x)
        assert np.isin(snapped[name], grid).all()
        dist = np.abs(axis(df[name].to_numpy())[:, None] - axis(grid)[None])
        chosen = np.abs(axis(df[name].to_numpy()) - axis(snapped[name].to_numpy(float)))
        np.testing.assert_allclose(chosen, dist.min(axis=1), atol=1e-12)


def test_combos_respect_fixed_values():
    assert len(VIEW.combos()) == 4
    assert VIEW.combos({"bits": 8}) == [{"bits": 8, "dataflow": "ws"}, {"bits": 8, "dataflow": "os"}]
