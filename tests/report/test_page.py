"""The page: self-contained HTML, files beside it, atomic replacement, and the run reader."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.report.figures import new_figure
from hwpower.report.page import MAX_HTML_ROWS, FigureItem, Section, TableItem, render_html, write_report
from hwpower.report.artifacts import evaluation_metrics, json_tables, read_run


def _fig(title: str):
    fig, (ax,) = new_figure()
    ax.plot([1, 2], [3, 4])
    ax.set_title(title)
    ax.set_xlabel("x (W)")
    ax.set_ylabel("y (W)")
    fig.suptitle(title)
    return fig


def test_page_embeds_images_and_cuts_long_tables(tmp_path):
    long = pd.DataFrame({"i": range(MAX_HTML_ROWS + 5), "v": 0.5})
    sections = [Section("A <b>", [FigureItem("f", _fig("line"), "a caption"), TableItem("t", long, "long table")]),
                Section("Empty", omitted="nothing here")]
    page = write_report(tmp_path / "r", "title", sections)
    text = page.read_text(encoding="utf-8")
    # no external resource: the only sources are data URIs
    assert not re.search(r'(src|href)="(?!data:|#)', text)
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', text).group(1))
    assert png == (tmp_path / "r" / "f.png").read_bytes()
    assert "A &lt;b&gt;" in text and "Omitted: nothing here" in text
    assert f"First {MAX_HTML_ROWS} of {MAX_HTML_ROWS + 5} rows" in text
    assert len(pd.read_csv(tmp_path / "r" / "t.csv")) == MAX_HTML_ROWS + 5


def test_write_report_refuses_clashing_names(tmp_path):
    table = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="t.csv"):
        write_report(tmp_path / "r", "x", [Section("s", [TableItem("t", table, "1"), TableItem("t", table, "2")])])
    assert not (tmp_path / "r").exists()


def _page(title: str, cell: str) -> str:
    table = pd.DataFrame({f"col {cell}": [cell]})
    return render_html(title, [Section(title, [TableItem("t", table, title, caption=cell)], omitted=cell)], {"run": cell})


def _tags(page: str) -> list[str]:
    tags: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

    Collect().feed(page)
    return tags


@given(st.text(max_size=40), st.text(max_size=40))
def test_user_text_cannot_inject_markup(title, cell):
    """Whatever a network name, a field or a title holds, the page has the same elements."""
    # compared with plain text of the same emptiness (empty captions are left out)
    assert _tags(_page(title, cell)) == _tags(_page("t" if title else "", "c" if cell else ""))


def test_render_html_lists_every_section():
    html = render_html("T", [Section("One"), Section("Two words")], {"k": "v"})
    assert '<a href="#one">One</a>' in html and '<section id="two-words">' in html and "k: v" in html


def test_read_run_finds_history_evaluation_and_searches(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.2}]))
    (tmp_path / "evaluation.json").write_text(json.dumps({"splits": {"unseen_hardware": {"P": {"mape_pct": 3.2}}}}))
    (tmp_path / "design.json").write_text(json.dumps({"task": "design", "verified": True, "candidates": [{"rank": 1}]}))
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "rec.json").write_text(json.dumps({"task": "recover", "candidates": []}))
    (tmp_path / "other.json").write_text(json.dumps({"task": "unrelated"}))
    run = read_run(tmp_path)
    assert run.history["train_loss"].tolist() == [0.5, 0.2]
    assert evaluation_metrics(run.evaluation).to_dict("records") == [
        {"split": "unseen_hardware", "target": "P", "mape_pct": 3.2}]
    assert sorted(run.searches) == ["design", "search_rec"]
    assert not run.has_predictor and run.experiments == {}


def test_read_run_checks_experiment_layout(tmp_path):
    (tmp_path / "sizes.json").write_text(json.dumps({"rows": {"not": "a list"}}))
    with pytest.raises(InputError, match=r"sizes\.json: expected a list of objects under 'rows'"):
        read_run(tmp_path)


def test_run_png_must_be_a_png(tmp_path):
    (tmp_path / "curves.png").write_text("not an image")
    with pytest.raises(InputError, match=r"curves\.png: not a PNG image"):
        FigureItem.from_file("c", tmp_path / "curves.png", "curves")


def test_read_run_names_file_and_line_of_bad_json(tmp_path):
    (tmp_path / "evaluation.json").write_text('{\n  "a": 1,\n  oops\n}')
    with pytest.raises(InputError, match=r"evaluation\.json: line 3, column 3: malformed JSON"):
        read_run(tmp_path)


def test_json_tables_flattens_scalars_and_records():
    tables = json_tables({"task": "identify", "meta": {"seed": 3, "t": 1.23456789, "ks": [1, 2], "k_choice": {"k": 2}},
                          "candidates": [{"rank": 1, "hw": {"bits": 8}}, {"rank": 2, "hw": {"bits": 16}}]},
                         skip=("meta.k_choice",))
    assert list(tables) == ["candidates", "summary"]
    summary = tables["summary"].set_index("field")["value"]
    assert summary.to_dict() == {"task": "identify", "meta.seed": "3", "meta.t": "1.235", "meta.ks": "1, 2"}
    assert tables["candidates"].to_dict("list") == {"rank": [1, 2], "hw.bits": [8, 16]}
