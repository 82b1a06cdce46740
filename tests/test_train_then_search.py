"""As the README prints it: `hwpower train` then `hwpower recover RUN --nets FILE --id N --target P=...
--verify`, with no --data (train saves what the search needs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwpower.cli import app, common

RAW = Path(__file__).resolve().parents[1] / "examples" / "data" / "raw"
runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_recover_runs_right_after_train(tmp_path, monkeypatch):
    monkeypatch.setattr(common.console, "width", 200)  # table cells unbroken
    run("process", RAW, "--out", tmp_path / "processed")
    run("train", tmp_path / "processed", "--out", tmp_path / "run", "--epochs", "1", "--hidden", "8",
        "--threads", "1", "--quiet")
    assert (tmp_path / "run" / "search" / "context.json").is_file()
    out = run("recover", tmp_path / "run", "--nets", RAW / "nets_ofa-mbv3.json", "--id", "3", "--target", "P=0.3",
              "--top-k", "2", "--steps", "10", "--verify")
    assert "no search data" not in out and "oracle-verified" in out and "nets_ofa-mbv3/3" in out
    # --ray: the oracle's verification sweeps run as Ray tasks, with the same candidates and values
    pytest.importorskip("ray")
    import json

    args = ("recover", tmp_path / "run", "--nets", RAW / "nets_ofa-mbv3.json", "--id", "3", "--target", "P=0.3",
            "--top-k", "2", "--steps", "10", "--verify")
    run(*args, "--out", tmp_path / "local.json")
    run(*args, "--ray", "local", "--out", tmp_path / "ray.json")
    local, on_ray = (json.loads((tmp_path / f).read_text()) for f in ("local.json", "ray.json"))
    assert local["candidates"] == on_ray["candidates"] and len(local["candidates"]) >= 2
