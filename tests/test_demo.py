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
    for step in ("step 1/9", "step 6/9: cross-family", "step 9/9", "report:"):
        assert step in result.output
    said = " ".join(result.output.split())
    # the out-of-domain example: AlexNet's 11x11 kernels and 4096-wide layers, one line for the network
    assert said.count("NetworkSupportWarning: zoo: network torchvision:alexnet, operator ") == 1
    # The regenerated raw data is the embedded default, byte for byte.
    embedded = Path(__file__).resolve().parents[1] / "examples" / "data" / "raw"
    for path in sorted(embedded.glob("*.txt")) + sorted(embedded.glob("nets_*.json")):
        assert (out / "raw" / path.name).read_bytes() == path.read_bytes(), path.name
    evaluation = json.loads((out / "run" / "evaluation.json").read_text())
    assert evaluation  # written by the evaluate step
    # nets_mixed/0 (held out) has larger norm and concat operators than any trained: listed one by one
    outside = json.loads((out / "run" / "out_of_domain.json").read_text())["operators"]
    assert {"network", "op_index", "operator", "kind", "feature", "value", "trained"} <= set(outside[0])
    assert "nets_mixed/0" in {o["network"] for o in outside}
    zoo = {z["network"]: z for z in json.loads((out / "run" / "zoo.json").read_text())["networks"]}
    assert list(zoo) == ["torchvision:resnet18", "torchvision:mobilenet_v2", "torchvision:alexnet"]
    assert all(z["n"] == 200 and z["mape_pct"] > 0 for z in zoo.values()) and zoo["torchvision:alexnet"]["ops_outside"] > 0
    for task in ("recover", "identify", "design"):
        saved = json.loads((out / "run" / "search" / f"{task}.json").read_text())
        assert saved["task"] == task
    for name in ("sizes", "data"):
        assert (out / "run" / "experiments" / f"{name}.json").is_file()
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Validation error against training-set size" in page and "Predictor across network families" in page
    assert page.count("data:image/png;base64,") >= 9
