"""Checkpoints: safe loading, clear errors, same seed same result, resume ends where a full run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import CheckpointError
from hwpower.errors import InputError
from hwpower.model import GBTPowerModel, NeuralPowerModel, Predictor, make_model
from hwpower.model.training import train

SMALL = dict(arch="structured", targets=("P_core", "P_bw"), epochs=6, batch_size=256, hidden=16, depth=1,
             hw_hidden=16, patience=100, device="cpu")


def _weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_same_seed_same_weights_and_resume_is_exact(tiny_ds, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=full, progress=False)
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=part, progress=False, stop_after=2)  # "crash" after 2 epochs
    assert json.loads((part / "last" / "meta.json").read_text())["epoch"] == 2
    assert not _same(_weights(full / "last"), _weights(part / "last"))
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=part, resume=True, progress=False)
    for which in ("last", "best"):
        assert _same(_weights(full / which), _weights(part / which)), which
    drop_time = lambda path: [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads(path.read_text())]  # noqa: E731
    assert drop_time(full / "history.json") == drop_time(part / "history.json")
    again = tmp_path / "again"
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=again, progress=False)
    assert _same(_weights(full / "best"), _weights(again / "best"))


def test_resume_refuses_other_settings(tiny_ds, tmp_path):
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=tmp_path, progress=False, stop_after=1)
    with pytest.raises(CheckpointError, match="cannot resume with different settings.*'lr'"):
        train(NeuralPowerModel(**{**SMALL, "lr": 0.1}), tiny_ds, run_dir=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("kind", ["structured", "gbt"])
def test_load_predicts_as_trained(tiny_ds, tmp_path, kind):
    params = {k: v for k, v in SMALL.items() if k != "arch"} if kind == "structured" else {"n_estimators": 30, "n_jobs": 1}
    model = train(make_model(kind, **params), tiny_ds, run_dir=tmp_path, progress=False)
    loaded = Predictor.load(tmp_path)
    a = Predictor(model).predict(tiny_ds.val, tiny_ds)
    b = loaded.predict(tiny_ds.val, tiny_ds)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6)
    meta = json.loads((tmp_path / "best" / "meta.json").read_text())
    assert meta["hwpower_version"] and meta["config"]["encoders"]["hardware"]["numeric"][0]["name"] == "pe_rows"


def test_incompatible_or_corrupt_checkpoints_are_refused(tiny_ds, tmp_path):
    train(NeuralPowerModel(**SMALL), tiny_ds, run_dir=tmp_path, progress=False, stop_after=1)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Predictor.load(tmp_path / "nowhere")
    meta_path = tmp_path / "best" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": 0, "hwpower_version": "0.0.1"}))
    with pytest.raises(CheckpointError, match="format 0 written by hwpower 0.0.1 is incompatible"):
        Predictor.load(tmp_path)
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "best" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt weights"):
        Predictor.load(tmp_path)


@pytest.mark.slow
def test_kill_9_then_resume_matches_uninterrupted(tiny_dir, tmp_path):
    """A real ``kill -9`` of ``hwpower train`` mid-run, then ``--resume``."""
    args = ["train", str(tiny_dir), "--model", "structured", "--targets", "P_core,P_bw", "--epochs", "12",
            "--batch-size", "128", "--hidden", "16", "--depth", "1", "--patience", "100", "--device", "cpu",
            "--threads", "1", "--quiet"]
    exe = [str(Path(sys.executable).with_name("hwpower"))]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*exe, *args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "last" / "meta.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epoch = json.loads((killed / "last" / "meta.json").read_text())["epoch"]
    assert 1 <= epoch < 12, "the run should have been killed mid-training"
    result = CliRunner().invoke(app, [*args, "--out", str(killed), "--resume"])  # resumed in-process: faster
    assert result.exit_code == 0, result.output
    full = tmp_path / "full"
    result = CliRunner().invoke(app, [*args, "--out", str(full)])
    assert result.exit_code == 0, result.output
    assert _same(_weights(full / "best"), _weights(killed / "best"))
    assert _same(_weights(full / "last"), _weights(killed / "last"))


def test_fit_is_the_plain_estimator_call(tiny_ds, tmp_path):
    """Issue 16: fit(ds) trains in memory and returns the estimator; run folders, resume and progress
    belong to the training runner (hwpower.model.training.train, train_model); unknown keywords are errors."""
    model = NeuralPowerModel(**{**SMALL, "epochs": 2})
    assert model.fit(tiny_ds) is model
    assert model.module_ is not None and len(model.history_) == 2 and model.reported_ and model.hw_encoder_
    assert list(tmp_path.iterdir()) == []  # nothing written
    with pytest.raises(TypeError):
        GBTPowerModel(n_estimators=5, n_jobs=1).fit(tiny_ds, run_dir=tmp_path)
    with pytest.raises(TypeError):
        NeuralPowerModel(**SMALL).fit(tiny_ds, stop_after=1)
    with pytest.raises(TypeError):
        GBTPowerModel.from_checkpoint(tmp_path, dev="cpu")


def test_make_model_refuses_unknown_parameters():
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['epochs'\] for the gbt model \(known: .*'n_estimators'"):
        make_model("gbt", n_estimators=5, epochs=3)
    with pytest.raises(InputError, match=r"\['n_estimators'\] for the structured model \(known: .*'hidden'"):
        make_model("structured", n_estimators=5)
    assert make_model("mlp", epochs=1).arch == "mlp"
