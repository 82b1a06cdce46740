"""Output safety (issue 15): no command replaces or deletes anything it did not write.

Every command that writes ``--out`` is driven through the command line against the cases that used
to lose data: the output is an input, an unrelated folder, an existing file, a previous output
without --force, stale temporaries of a killed run, and a place that cannot be written.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import OutputError
from hwpower.io import MARKER, STALE_AFTER_S, check_output_dir, is_output_of, remove_stale
from hwpower.processing import load_processed, process

runner = CliRunner()
DEAD_PID = 99_999_999  # above any Linux pid_max: never a live process
GEN = ["--networks", "4", "--train-rows", "200", "--val-rows", "60", "--shards", "1", "--no-reference", "--seed", "1"]
TRAIN = ["--model", "gbt", "--trees", "10", "--threads", "1", "--quiet"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result) -> None:
    assert result.exit_code == 0, result.output


def refused(result, *names) -> None:
    """Exit 2 with one line naming the path(s), never a traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for name in names:
        assert str(name) in lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with its checksum."""
    if root.is_file():
        return {"": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    (path / "sub").mkdir()
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return path


def unwritable(tmp_path: Path, how: str) -> Path:
    """A place no run may write: under a file (fails for root too), or in a read-only folder."""
    if how == "under_file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / "sub"
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    (tmp_path / "ro").mkdir(mode=0o500)
    return tmp_path / "ro" / "sub"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Raw data, its processed dataset, a trained run, a space file and a batch input."""
    from hwpower.oracle import HardwareSpace

    base = tmp_path_factory.mktemp("world")
    ok(invoke("generate", "--out", base / "raw", *GEN))
    ok(invoke("process", base / "raw", "--out", base / "processed", "--no-progress"))
    ok(invoke("train", base / "processed", "--out", base / "run", *TRAIN))
    (base / "space").mkdir()
    (base / "space" / "space.toml").write_text(HardwareSpace.default().to_toml())
    load_processed(base / "processed").val.head(5).to_csv(base / "in.csv", index=False)
    return base


# --- commands that write a folder as a whole ----------------------------------------------------

FOLDER_COMMANDS = {
    "generate": lambda w, out: ["generate", "--out", out, "--space", w / "space" / "space.toml", *GEN],
    "process": lambda w, out: ["process", w / "raw", "--out", out, "--no-progress"],
    "train": lambda w, out: ["train", w / "processed", "--out", out, *TRAIN],
    "report": lambda w, out: ["report", w / "processed", "--run", w / "run", "--out", out],
    "stats": lambda w, out: ["stats", w / "processed", "--out", out],
}
INPUT = {"generate": "space/space.toml", "process": "raw", "train": "processed", "report": "run", "stats": "processed"}
OTHER = {"generate": "processed", "process": "run", "train": "raw", "report": "raw", "stats": "run"}  # not theirs


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_folder_output_never_is_or_holds_an_input(world, name):
    before = snapshot(world)
    inp = world / INPUT[name]
    for out in (inp, inp.parent, inp / ".."):
        refused(invoke(*FOLDER_COMMANDS[name](world, out)), out.resolve())
    assert snapshot(world) == before


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_unrelated_folder_and_existing_file_are_kept(world, tmp_path, name):
    folder, file = user_folder(tmp_path / "mine"), tmp_path / "file.txt"
    file.write_text("keep")
    before = snapshot(tmp_path)
    refused(invoke(*FOLDER_COMMANDS[name](world, folder)), folder, "not an output of")
    refused(invoke(*FOLDER_COMMANDS[name](world, file)), file, "not a folder")
    assert snapshot(tmp_path) == before
    before = snapshot(world)
    refused(invoke(*FOLDER_COMMANDS[name](world, world / OTHER[name])), "not an output of")  # another command's
    assert snapshot(world) == before


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_previous_output_needs_force_and_stale_temporaries_go(world, tmp_path, name):
    out = tmp_path / "out"
    out.mkdir()  # an empty folder may be used
    ok(invoke(*FOLDER_COMMANDS[name](world, out)))
    assert is_output_of(out, name)
    (out / "added-later.txt").write_text("x")
    before = snapshot(out)
    refused(invoke(*FOLDER_COMMANDS[name](world, out)), out, "--force")
    assert snapshot(out) == before
    dead = [tmp_path / f".out.{DEAD_PID}.abcd1234.tmp", tmp_path / f".out.old-{DEAD_PID}"]
    kept = [tmp_path / f".out.{os.getpid()}.abcd1234.tmp",  # a live run's
            tmp_path / f".other.{DEAD_PID}.abcd1234.tmp", tmp_path / ".out.notes"]  # not ours for this output
    for p in dead + kept:
        p.mkdir()
        (p / "f").write_text("x")
    ok(invoke(*FOLDER_COMMANDS[name](world, out), "--force"))
    assert not (out / "added-later.txt").exists() and is_output_of(out, name)
    assert not any(p.exists() for p in dead) and all(p.exists() for p in kept)


@pytest.mark.parametrize("how", ["under_file", "read_only"])
@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_unwritable_folder_output_is_one_line(world, tmp_path, name, how):
    out = unwritable(tmp_path, how)
    refused(invoke(*FOLDER_COMMANDS[name](world, out)), out)


def test_train_resume_only_in_its_own_run(world, tmp_path):
    folder = user_folder(tmp_path / "mine")
    before = snapshot(folder)
    refused(invoke("train", world / "processed", "--out", folder, "--resume", "--quiet"), folder, "not an output of")
    assert snapshot(folder) == before


# --- commands that write files ------------------------------------------------------------------

def _search(w, out):
    return ["recover", w / "run", "--nets", w / "raw" / "nets_0.json", "--id", "0", "--target", "P=1", "--out", out]


# name: (arguments for an output path, the files written into it or None when the path is the file)
FILE_COMMANDS = {
    "evaluate": (lambda w, out: ["evaluate", w / "run", w / "processed", "--out", out],
                 ["evaluation.json", "evaluation.txt", "per_network.parquet", "out_of_domain.json"]),
    "experiment": (lambda w, out: ["experiment", "sizes", w / "processed", "--out", out, "-n", "1", "--epochs", "1",
                                   "--quiet"], ["sizes.parquet", "sizes.json", "sizes.png"]),
    "predict": (lambda w, out: ["predict", w / "run", "--input", w / "in.csv", "--processed", w / "processed",
                                "--out", out], None),
    "recover": (_search, None),
}
# outputs that are, or lie in, an input
FILE_INPUTS = {"evaluate": ["processed"], "experiment": ["processed"],
               "predict": ["in.csv", "processed/new.parquet", "run/best/x.parquet"],
               "recover": ["raw/nets_0.json", "run/best/x.json", "run/search/context.json"]}


@pytest.mark.parametrize("name", FILE_COMMANDS)
def test_file_output_never_is_or_lies_in_an_input(world, name):
    args, _ = FILE_COMMANDS[name]
    before = snapshot(world)
    for out in FILE_INPUTS[name]:
        refused(invoke(*args(world, world / out)), "input")
    assert snapshot(world) == before


@pytest.mark.parametrize("name", FILE_COMMANDS)
def test_file_outputs_are_replaced_only_with_force(world, tmp_path, name):
    args, files = FILE_COMMANDS[name]
    target = tmp_path / "out" if files else tmp_path / "out.parquet"
    paths = [target / f for f in files] if files else [target]
    paths[0].parent.mkdir(exist_ok=True)
    paths[0].write_text("someone's file")
    before = snapshot(tmp_path)
    refused(invoke(*args(world, target)), paths[0], "--force")
    assert snapshot(tmp_path) == before
    if name == "recover":
        return  # the search itself runs in tests/search/test_cli.py (stand-in context)
    stale = paths[0].with_name(f".{paths[0].name}.{DEAD_PID}.abcd1234.tmp")
    stale.write_text("left by a killed run")
    ok(invoke(*args(world, target), "--force"))
    assert all(p.stat().st_size > 0 for p in paths) and paths[0].read_bytes() != b"someone's file"
    assert not stale.exists()


@pytest.mark.parametrize("name", FILE_COMMANDS)
def test_file_output_where_a_folder_or_file_is(world, tmp_path, name):
    args, files = FILE_COMMANDS[name]
    folder, file = user_folder(tmp_path / "mine"), tmp_path / "file.txt"
    file.write_text("keep")
    before = snapshot(tmp_path)
    if files:  # a folder of outputs given as a file
        refused(invoke(*args(world, file)), file, "not a folder")
    else:  # a file output given as a folder
        refused(invoke(*args(world, folder)), folder, "not a file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("how", ["under_file", "read_only"])
@pytest.mark.parametrize("name", FILE_COMMANDS)
def test_unwritable_file_output_is_one_line(world, tmp_path, name, how):
    args, _ = FILE_COMMANDS[name]
    out = unwritable(tmp_path, how)
    refused(invoke(*args(world, out)), out)


# --- the demo: replaces its own output, nothing else --------------------------------------------

@pytest.fixture
def quick_demo(monkeypatch):
    """The demo with one step that writes a file: the output handling is what is tested here."""
    import hwpower.cli.demo

    monkeypatch.setattr(hwpower.cli.demo, "STEPS", [("write", lambda ctx: (ctx.out_dir / "step.txt").write_text("x"))])


def test_demo_reruns_over_its_own_output_and_refuses_others(quick_demo, world, tmp_path):
    out = tmp_path / "demo"
    ok(invoke("demo", "--out", out))
    (out / "added-later.txt").write_text("x")
    ok(invoke("demo", "--out", out))  # running the demo twice just works
    assert (out / "step.txt").is_file() and not (out / "added-later.txt").exists() and (out / MARKER).is_file()
    folder, file = user_folder(tmp_path / "mine"), tmp_path / "file.txt"
    file.write_text("keep")
    before = snapshot(tmp_path / "mine"), snapshot(file)
    refused(invoke("demo", "--out", folder), folder)
    refused(invoke("demo", "--out", file), file)
    assert (snapshot(tmp_path / "mine"), snapshot(file)) == before


def test_demo_output_from_before_the_marker_is_recognized(quick_demo, world, tmp_path):
    import shutil

    old = tmp_path / "demo-output"
    for part in ("raw", "processed"):
        shutil.copytree(world / part, old / part)
    ok(invoke("demo", "--out", old))
    assert sorted(p.name for p in old.iterdir()) == [MARKER, "step.txt"]


# --- the library: the last line of defence, and stale temporaries ------------------------------

def test_library_never_swaps_over_a_foreign_folder(world, tmp_path):
    folder = user_folder(tmp_path / "mine")
    before = snapshot(folder)
    with pytest.raises(OutputError, match="not an output of `hwpower process`"):
        process(world / "raw", folder, progress=False)
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left
    with pytest.raises(OutputError, match="symbolic link"):
        (tmp_path / "link").symlink_to(world / "processed")
        check_output_dir(tmp_path / "link", command="process", force=True)


def test_stale_rules(tmp_path):
    out = tmp_path / "out"
    old_time = os.path.getmtime(tmp_path) - STALE_AFTER_S - 60
    live_old = tmp_path / f".out.{os.getpid()}.abcd1234.tmp"  # a reused process id: the age decides
    legacy_new, legacy_old = tmp_path / ".out.abcd1234.tmp", tmp_path / ".out.efgh5678.tmp"  # no process id
    for p in (live_old, legacy_new, legacy_old):
        p.write_text("x")
    for p in (live_old, legacy_old):
        os.utime(p, (old_time, old_time))
    assert sorted(remove_stale(out)) == sorted([live_old, legacy_old])
    assert legacy_new.exists()
