"""The hardware space: default grid, TOML files and their errors, sampling and snapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.oracle import HW_PARAMS, HardwareSpace


@pytest.fixture(scope="module")
def space() -> HardwareSpace:
    return HardwareSpace.default()


def test_default_space_shape(space):
    assert [p.name for p in space.params] == list(HW_PARAMS)
    assert space.numeric_names == ["pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps", "freq_mhz"]
    assert space.categorical == {"bits": (8, 16), "dataflow": ("ws", "os")}
    assert space.grid_size == 5 * 5 * 7 * 9 * 7 * 10 * 2 * 2 == 441_000
    assert space["glb_kib"].grid[0] == 16 and space["glb_kib"].grid[-1] == 4096


def test_grid_frame_is_every_point_once(space):
    grid = space.grid_frame()
    assert len(grid) == space.grid_size
    assert list(grid.columns) == list(HW_PARAMS)
    codes = space.codes(grid)
    np.testing.assert_array_equal(codes, np.arange(space.grid_size))
    space.validate(grid, on_grid=True)


def test_sample_is_deterministic_on_grid_and_space_filling(space):
    a, b = space.sample(512, seed=3), space.sample(512, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(space.sample(512, seed=4))
    space.validate(a, on_grid=True)
    # log-uniform sampling on a power-of-two grid: every glb value about equally often (512/9 = 57)
    counts = a["glb_kib"].value_counts()
    assert set(counts.index) == set(space["glb_kib"].grid)
    assert counts.min() >= 40 and counts.max() <= 75
    assert set(a["dataflow"]) == {"ws", "os"} and set(a["bits"]) == {8, 16}
    assert a["pe_rows"].dtype == np.int64 and a["dram_gbps"].dtype == np.float64


def test_snap_nearest_in_log_distance(space):
    df = space.sample(4, seed=0).copy()
    df["glb_kib"] = [23.0, 22.0, 4000.0, 16.0]  # geometric midpoint of 16 and 32 is 22.6
    df["freq_mhz"] = [149, 151, 1000, 100]
    snapped = space.snap(df)
    assert snapped["glb_kib"].tolist() == [32, 16, 4096, 16]
    assert snapped["freq_mhz"].tolist() == [100, 200, 1000, 100]


def test_validate_names_row_and_column(space):
    df = space.sample(3, seed=0).copy()
    df.loc[2, "pe_rows"] = 100
    with pytest.raises(InputError, match=r"hw\.txt: row 2: pe_rows=100"):
        space.validate(df, file="hw.txt")
    df = space.sample(3, seed=0).copy()
    df.loc[1, "dataflow"] = "rs"
    with pytest.raises(InputError, match=r"row 1: dataflow='rs' must be one of"):
        space.validate(df)
    with pytest.raises(InputError, match="missing hardware column"):
        space.validate(df.drop(columns=["bits"]))


def test_toml_round_trip(space, tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(space.to_toml())
    assert HardwareSpace.from_toml(path) == space


def _write(tmp_path, space, **changes):
    text = space.to_toml()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("old,new,message", [
    ("[pe_rows]", "[pe_rowz]", r"unknown parameter\(s\) \['pe_rowz'\]"),
    ("low = 16\nhigh = 1024", "low = 2048\nhigh = 1024", r"parameter 'rf_bytes': low 2048 > high 1024"),
    ("low = 1\nhigh = 64\n", "low = 0\nhigh = 64\n", r"parameter 'dram_gbps': low must be positive"),
    ('scale = "linear"', 'scale = "cubic"', r"parameter 'freq_mhz': scale must be one of"),
    ('grid = ["ws", "os"]', 'grid = ["ws", "rs"]', r"parameter 'dataflow': values \['rs'\] not supported"),
    ("grid = [8, 16]", "grid = [8, 12]", r"parameter 'bits': values \[12\] not supported"),
    ('kind = "int"', 'kind = "integer"', r"parameter 'pe_rows': kind must be one of"),
    ("grid = [4, 8, 16, 32, 64]", "grid = [4, 8, 16, 32, 128]", r"grid value 128 outside \[4, 64\]"),
    ("[bits]", "[bits]\ncolour = 3", r"parameter 'bits': unknown field\(s\) \['colour'\]"),
    ("[freq_mhz]", "[freq_mhz\n", "malformed TOML"),
])
def test_bad_space_files(space, tmp_path, old, new, message):
    path = _write(tmp_path, space, **{old: new})
    with pytest.raises(InputError, match=message) as err:
        HardwareSpace.from_toml(path)
    assert str(path) in str(err.value)


def test_missing_parameter_and_file(space, tmp_path):
    text = space.to_toml().split("[bits]")[0]  # drops bits and dataflow
    path = tmp_path / "short.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"missing parameter\(s\) \['bits', 'dataflow'\]"):
        HardwareSpace.from_toml(path)
    with pytest.raises(InputError, match="cannot read"):
        HardwareSpace.from_toml(tmp_path / "nope.toml")
