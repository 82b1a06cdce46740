"""Users' files in other shapes give the same dataset: separators, CRLF, column order, extra columns,
network keys written differently (inferred or from a schema file)."""

from __future__ import annotations

import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.processing import process

from .rawfiles import HEADER, NETS, Shape, make_rows, standard_raw, write_raw

SCHEMA = """
separator = "{sep}"

[network]
column = "{net_col}"
pattern = '{pattern}'

[hardware.numeric]
pe_rows = {{ unit = "PEs", dtype = "int" }}
pe_cols = {{ unit = "PEs", dtype = "int" }}
rf_bytes = {{ unit = "bytes", dtype = "int" }}
glb_kib = {{ unit = "KiB", dtype = "int" }}
dram_gbps = {{ unit = "GB/s" }}
freq_mhz = {{ unit = "MHz", column = "{freq_col}" }}

[hardware.categorical]
bits = {{ values = [8, 16] }}
dataflow = {{ values = ["os", "ws"] }}

[targets]
P_core = {{ unit = "W" }}
P_bw = {{ unit = "W" }}
P = {{ unit = "W" }}
latency_ms = {{ unit = "ms" }}
energy_mj = {{ unit = "mJ" }}
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return process(standard_raw(tmp_path_factory.mktemp("std")), progress=False)


def assert_same(ds, ref):
    for name in ("train", "val"):
        got, want = getattr(ds, name), getattr(ref, name)
        pd.testing.assert_frame_equal(got.astype({"network": str}), want.astype({"network": str}), check_dtype=False)
    assert ds.hardware_numeric == ref.hardware_numeric and ds.targets == ref.targets


SHAPES = {
    "comma": Shape(sep=","),
    "comma_padded": Shape(sep=",", pad=" "),
    "crlf": Shape(newline="\r\n"),
    "runs_of_spaces": Shape(pad="  "),
    "tabs": Shape(sep="\t"),
    "reordered": Shape(columns=list(reversed(HEADER))),
    "extra_columns": Shape(extra={"comment": "x", "run_id": "7"}),
    "colon_keys": Shape(network="{stem}:{id}"),
    "crlf_comma_reordered_extra": Shape(sep=",", newline="\r\n", columns=HEADER[::2] + HEADER[1::2],
                                        extra={"notes": "n"}),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_inferred_shapes_give_the_same_dataset(name, tmp_path, reference):
    ds = process(standard_raw(tmp_path / name, SHAPES[name]), progress=False)
    assert_same(ds, reference)
    if SHAPES[name].extra:
        assert set(SHAPES[name].extra) <= set(ds.manifest["schema"]["ignored"])


def test_plain_ids_with_one_nets_file_are_inferred(tmp_path, reference):
    ds = process(standard_raw(tmp_path, Shape(network="{id}")), progress=False)
    assert_same(ds, reference)


def test_schema_file_maps_renamed_columns_and_network_pattern(tmp_path, reference):
    header = [{"network": "model", "freq_mhz": "clock"}.get(c, c) for c in HEADER]
    shape = Shape(sep=";", columns=header, network="arch-{id}", net_col="model")
    rows = lambda n, s, **kw: [{**r, "model": r["network"], "clock": r["freq_mhz"]} for r in make_rows(n, s, **kw)]  # noqa: E731
    raw = write_raw(tmp_path / "raw", [rows(30, 1), rows(20, 2)], [rows(10, 3, net_ids=(1, 3))], shape)
    schema = tmp_path / "schema.toml"
    schema.write_text(SCHEMA.format(sep=";", net_col="model", pattern=r"^arch-(?P<id>\d+)$", freq_col="clock"))
    ds = process(raw, schema=schema, progress=False)
    assert_same(ds, reference)
    assert ds.manifest["schema"]["inferred"] is False


def test_docs_schema_example_parses():
    """The example in docs/data-format.md is a valid schema."""
    import re
    from pathlib import Path

    from hwpower.processing import load_schema

    docs = (Path(__file__).parents[2] / "docs" / "data-format.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", docs, re.S).group(1)
    path = Path(__import__("tempfile").mkdtemp()) / "schema.toml"
    path.write_text(example)
    schema = load_schema(path)
    assert schema.separator == "," and schema.network_source == "model"
    assert [t.unit for t in schema.targets][:1] == ["W"]


@pytest.mark.parametrize("text, problem", [
    ("separator = 'pipe'\n", "separator must be one of"),
    ("[hardware.numeric]\nx = { unit = 'PEs' }\n[targets]\nP = { unit = 'W' }\n[network]\npattern = '(?P<n>\\d+)'\n",
     "named group 'id'"),
    ("[hardware.numeric]\nx = { dtype = 'int' }\n", "unit"),
    ("this is = = not toml", "malformed TOML"),
    ("[hardware.categorical]\nb = { values = [8, 'x'] }\n[targets]\nP = { unit = 'W' }\n", "integers or strings"),
])
def test_bad_schema_files_name_the_problem(tmp_path, text, problem):
    path = tmp_path / "schema.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as info:
        process(standard_raw(tmp_path / "raw"), schema=path, progress=False)
    assert info.value.file == str(path)


def test_unknown_network_form_without_schema_asks_for_one(tmp_path):
    with pytest.raises(InputError, match="pattern") as info:
        process(standard_raw(tmp_path, Shape(network="net-{id}-{stem}")), progress=False)
    assert info.value.where == "line 2" and info.value.file.endswith("train_0.txt")
    assert len(NETS) == 4
