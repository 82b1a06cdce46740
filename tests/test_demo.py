"""End-to-end: `hwpower demo` runs every step on the embedded default data and writes the report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hwpower.cli import app


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    for step in ("step 1/8", "step 6/8", "step 8/8", "report:"):
        assert step in result.output
    # The regenerated raw data is the embedded default, byte for byte.
    embedded = Path(__file__).resolve().parents[1] / "examples" / "data" / "raw"
    for path in sorted(embedded.glob("*.txt")) + sorted(embedded.glob("nets_*.json")):
        assert (out / "raw" / path.name).read_bytes() == path.read_bytes(), path.name
    evaluation = json.loads((out / "run" / "evaluation.json").read_text())
    assert evaluation  # written by the evaluate step
    for task in ("recover", "identify", "design"):
        saved = json.loads((out / "run" / "search" / f"{task}.json").read_text())
        assert saved["task"] == task
    for name in ("sizes", "data"):
        assert (out / "run" / "experiments" / f"{name}.json").is_file()
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Validation error against training-set size" in page
    assert page.count("data:image/png;base64,") >= 8
