"""The notebooks under examples/: Jupytext percent scripts that open as notebooks and run as Python."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (dev extra)")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# the seed's four notebooks, in the order they depend on each other, with their numbered steps
NOTEBOOKS = {"process_data": 4, "treatment_multiple_inputs": 8, "stats_data": 3, "stats_by_network": 3}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_walks_through_the_seed_steps(name):
    nb = jupytext.read(EXAMPLES / f"{name}.py")
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert markdown[0].startswith(f"# {name}")
    steps = [int(m.group(1)) for src in markdown for m in re.finditer(r"^## (\d+)\)", src, re.M)]
    assert steps == list(range(1, NOTEBOOKS[name] + 1))
    assert len(code) >= NOTEBOOKS[name]
    # glue only: no function or class of its own
    assert not any(re.search(r"^\s*(def|class) ", src, re.M) for src in code)


@pytest.mark.slow
def test_notebooks_run_on_the_embedded_data(tmp_path):
    """All four, in order, as plain Python, in quick mode (one epoch, few search steps)."""
    out = tmp_path / "out"
    env = {**os.environ, "HWPOWER_EXAMPLES_OUT": str(out), "HWPOWER_EXAMPLES_RAW": str(EXAMPLES / "data" / "raw"),
           "HWPOWER_EXAMPLES_QUICK": "1", "MPLBACKEND": "Agg",
           # one thread each for torch and scikit-learn: on a shared 2-core machine spinning threads cost more
           "OMP_NUM_THREADS": "1"}
    script = "import runpy, sys\nfor path in sys.argv[1:]:\n    runpy.run_path(path, run_name='__main__')\n"
    paths = [str(EXAMPLES / f"{name}.py") for name in NOTEBOOKS]
    res = subprocess.run([sys.executable, "-c", script, *paths], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "processed" / "manifest.json").is_file()
    assert (out / "run" / "best" / "meta.json").is_file() and (out / "run" / "evaluation.json").is_file()
    assert (out / "run" / "search" / "recover.json").is_file()
    assert (out / "kmeans_starts.json").is_file()
    report = out / "report"
    assert {p.name for p in report.glob("*.png")} >= {
        "power_histograms.png", "hardware_pca.png", "kmeans_choice.png", "power_by_network.png",
        "error_by_network.png", "error_vs_network_size.png", "experiment_sizes.png", "experiment_data.png"}
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Omitted" not in html and "recover (search_recover)" in html
    assert "doubling the data cuts the error" in res.stdout
