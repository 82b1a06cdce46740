"""The embedded default data under examples/data/raw is exactly what its documented command writes."""

from __future__ import annotations

import shlex
from pathlib import Path

from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.generate import example_config, make_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"


def documented_command() -> list[str]:
    """The `hwpower generate ...` line of examples/data/README.md, as arguments."""
    lines = [x for x in (EXAMPLES / "README.md").read_text().splitlines() if x.startswith("hwpower generate")]
    assert len(lines) == 1
    return shlex.split(lines[0])[1:]


def test_documented_command_regenerates_the_committed_files(tmp_path):
    args = documented_command()
    out = tmp_path / "raw"
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    committed = EXAMPLES / "raw"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in committed.iterdir())
    for f in committed.iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes(), f"{f.name} differs: regenerate examples/data/raw"
    assert "examples/data/raw" in " ".join(documented_command())


def test_example_config_is_the_documented_command():
    plan = make_plan(example_config())
    assert len(plan.nets) == 45 and len(plan.heldout) == 9
    assert len(plan.rows["train"]) == 5000 and len(plan.rows["val"]) == 1000
    args = documented_command()
    assert args[args.index("--networks") + 1] == str(example_config().networks)
    assert args[args.index("--seed") + 1] == str(example_config().seed)
