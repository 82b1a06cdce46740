"""The report as data (sections of figures and tables) and its rendering to a self-contained page.

The HTML embeds every figure as a base64 PNG and carries its CSS inline: no external resource, so
it opens offline and can be mailed as one file. The same figures (PNG) and tables (CSV) are
written beside it, all in one atomic folder replacement.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .. import __version__
from ..errors import InputError
from ..io import atomic_dir
from .figures import png_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_HTML_ROWS = 40  # longer tables are cut in the page; the CSV beside it has every row

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #1f77b4;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccc}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,.caption{color:#555;font-size:.92em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f6fa}
td:first-child,th:first-child{text-align:left}
.omitted{color:#8a6d3b;background:#fcf8e3;border:1px solid #faebcc;padding:.5em 1em}
.meta{color:#666;font-size:.9em}nav ul{columns:2}.scroll{overflow-x:auto}
"""


@dataclass
class FigureItem:
    """A figure of the report, or (``figure=None``, ``png`` given) a PNG another module wrote."""

    name: str  # file stem of the PNG beside the page
    figure: Figure | None
    caption: str = ""
    _png: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_file(cls, name: str, path: Path, caption: str) -> FigureItem:
        data = path.read_bytes()
        if not data.startswith(PNG_MAGIC):
            raise InputError("not a PNG image", file=str(path))
        return cls(name, None, caption, data)

    @property
    def title(self) -> str:
        return (self.figure.get_suptitle() if self.figure is not None else "") or self.caption or self.name

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    @property
    def png(self) -> bytes:
        if self._png is None:  # rendered once, used for the file and the page
            self._png = png_bytes(self.figure)
        return self._png


@dataclass
class TableItem:
    name: str  # file stem of the CSV beside the page
    table: pd.DataFrame
    title: str
    caption: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


@dataclass
class Section:
    title: str
    items: list[FigureItem | TableItem] = field(default_factory=list)
    intro: str = ""
    omitted: str | None = None  # why the section has no content, shown instead of it

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower())


def _table_html(item: TableItem) -> str:
    df = item.table
    shown = df.head(MAX_HTML_ROWS)
    body = shown.to_html(index=False, border=0, na_rep="–", float_format=lambda x: f"{x:.4g}")
    more = (f'<p class="caption">First {MAX_HTML_ROWS} of {len(df)} rows; every row is in '
            f'<code>{html.escape(item.filename)}</code>.</p>') if len(df) > MAX_HTML_ROWS else ""
    cap = f'<p class="caption">{html.escape(item.caption)}</p>' if item.caption else ""
    return f'<h3>{html.escape(item.title)}</h3>{cap}<div class="scroll">{body}</div>{more}'


def _figure_html(item: FigureItem) -> str:
    data = base64.b64encode(item.png).decode("ascii")
    return (f'<figure><img alt="{html.escape(item.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(item.caption)} (<code>{html.escape(item.filename)}</code>)</figcaption></figure>")


def render_html(title: str, sections: list[Section], meta: dict[str, str]) -> str:
    """The whole page as one string."""
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append('<p class="meta">' + " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in meta.items()) + "</p>")
    parts.append("<nav><ul>" + "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
                 + "</ul></nav>")
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        if s.intro:
            parts.append(f"<p>{html.escape(s.intro)}</p>")
        if s.omitted:
            parts.append(f'<p class="omitted">Omitted: {html.escape(s.omitted)}</p>')
        for item in s.items:
            parts.append(_figure_html(item) if isinstance(item, FigureItem) else _table_html(item))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(out_dir: str | os.PathLike[str], title: str, sections: list[Section],
                 meta: dict[str, str] | None = None, extra_files: dict[str, bytes] | None = None, *,
                 command: str = "report") -> Path:
    """Write ``report.html`` with the PNGs and CSVs beside it; returns the page's path.

    The folder is replaced as a whole: a failed run leaves the previous report untouched. Only a new
    or empty folder or a previous output of ``hwpower COMMAND`` (report or stats) is replaced.
    """
    meta = {"hwpower": __version__, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **(meta or {})}
    names = [i.filename for s in sections for i in s.items] + list(extra_files or {})
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"report items share file names: {duplicates}")
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, command=command) as tmp:
        tmp.chmod(0o755)  # a report is for sharing; the temporary folder is created private
        for s in sections:
            for item in s.items:
                if isinstance(item, FigureItem):
                    (tmp / item.filename).write_bytes(item.png)
                else:
                    item.table.to_csv(tmp / item.filename, index=False)
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        (tmp / "report.html").write_text(render_html(title, sections, meta), encoding="utf-8")
    return out_dir / "report.html"
