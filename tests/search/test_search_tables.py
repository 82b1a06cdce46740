"""A search's answer rendered as tables: built in the command line (cli/search_tables.py) from the
data frames the search returns (search/results.py builds none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console

from hwpower.cli.search_tables import compact_hardware, result_table, search_tables
from hwpower.search import SearchResult


def _text(table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def _result() -> SearchResult:
    cands = pd.DataFrame({"query": ["a", "a"], "rank": [1, 2], "pe_rows": [16, 8], "pe_cols": [8, 8],
                          "freq_mhz": [600, 200], "pred_P": [1.25, 0.0004], "pred_err_P_pct": [1.5, np.nan],
                          "in_domain": [True, False]})
    spread = pd.DataFrame({"param": ["bits"], "min": [8], "max": [16]})
    return SearchResult("recover", cands, tables={"spread": spread}, hw_columns=["pe_rows", "pe_cols", "freq_mhz"])


def test_search_tables_show_candidates_then_extra_tables():
    result = _result()
    tables = search_tables(result)
    assert [t.title for t in tables] == ["recover: candidates (not verified)", "recover: spread"]
    text = _text(tables[0])
    assert "16x8 600MHz" in text and "8x8 200MHz" in text  # the hardware as one compact column
    assert "pred err P %" in text  # short headers
    assert "4.00e-04" in text and "1.25" in text and " - " in text  # small numbers, NaN as "-"
    assert "yes" in text and "NO" in text
    assert not hasattr(result, "rich_tables")  # the library hands back data only


def test_verified_title_and_long_tables_are_cut_with_a_caption():
    result = _result()
    result.candidates = result.candidates.rename(columns={"pred_err_P_pct": "oracle_P"})
    assert search_tables(result)[0].title == "recover: candidates (oracle-verified)"
    long = result_table(pd.DataFrame({"x": np.arange(45.0)}), "long", max_rows=40)
    assert long.row_count == 40 and long.caption == "5 more rows in the JSON output"


def test_compact_hardware_leaves_frames_without_hardware_alone():
    frame = pd.DataFrame({"a": [1]})
    assert compact_hardware(frame, ["pe_rows"]) is frame
