"""Training rows streamed from Parquet (datasets larger than memory): every row once per epoch, shuffled
across row groups and within a buffer, the same batches for the same seed, values as load_processed's."""

from __future__ import annotations

import pandas as pd
import pytest

from hwpower.processing import load_processed, process
from hwpower.processing.stream import should_stream

from .rawfiles import make_rows, write_raw


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    raw = write_raw(tmp / "raw", [make_rows(40, s) for s in range(5)], [make_rows(10, 9)])
    process(raw, tmp / "processed", progress=False)
    return tmp / "processed"


def _key(frame: pd.DataFrame) -> list[tuple]:
    return sorted(map(tuple, frame.astype({"network": str, "dataflow": str}).itertuples(index=False)))


def test_every_row_once_per_epoch_in_a_seeded_order(folder):
    whole = load_processed(folder)
    ds = load_processed(folder, stream=True, sample_rows=60, seed=3)
    source = ds.train_stream
    source.buffer_rows = 70  # several buffers over the 5 row groups of 40 rows
    epoch0 = list(source.batches(0, 32))
    assert [len(b) for b in epoch0] == [32] * 6 + [8]
    rows = pd.concat(epoch0, ignore_index=True)
    assert _key(rows) == _key(whole.train)  # every row once, values bit for bit
    assert rows.dtypes.equals(whole.train.dtypes)
    again = pd.concat(list(source.batches(0, 32)), ignore_index=True)
    pd.testing.assert_frame_equal(rows, again)
    other = pd.concat(list(source.batches(1, 32)), ignore_index=True)
    assert not other["P"].equals(rows["P"]) and _key(other) == _key(rows)
    assert rows["P"].head(40).tolist() != whole.train["P"].head(40).tolist()  # shuffled


def test_streamed_dataset_holds_a_sample_and_the_validation_rows(folder):
    ds = load_processed(folder, stream=True, sample_rows=60)
    whole = load_processed(folder)
    assert len(ds.train) == 60 and len(ds.train_stream) == 200 and whole.train_stream is None
    assert set(_key(ds.train)) <= set(_key(whole.train))
    pd.testing.assert_frame_equal(ds.val, whole.val)
    assert ds.manifest["counts"]["train_rows"] == 200


def test_should_stream_compares_the_estimate_with_the_budget(folder):
    manifest = load_processed(folder).manifest
    assert not should_stream(manifest) and should_stream(manifest, budget=1000)


def test_a_predictor_trains_on_a_streamed_dataset(folder):
    from hwpower.model import NeuralPowerModel

    small = dict(arch="structured", targets=("P_core", "P_bw"), epochs=2, batch_size=64, hidden=16, depth=1,
                 hw_hidden=16, patience=100, device="cpu")
    ds = load_processed(folder, stream=True, sample_rows=100)
    seen = []
    batches = ds.train_stream.batches
    ds.train_stream.batches = lambda epoch, size: (seen.append((epoch, len(b))) or b for b in batches(epoch, size))
    model = NeuralPowerModel(**small).fit(ds)
    assert [e for e, _ in seen] == [0] * 4 + [1] * 4 and sum(n for _, n in seen) == 400  # 200 rows, twice
    assert len(model.history_) == 2 and all(h["train_loss"] > 0 for h in model.history_)


def test_auto_streams_only_a_dataset_that_would_not_fit(folder, monkeypatch):
    import hwpower.processing.stream as stream_mod

    assert load_processed(folder, stream="auto").train_stream is None  # 200 rows fit
    monkeypatch.setattr(stream_mod, "MEMORY_BUDGET", 1)
    ds = load_processed(folder, stream="auto", sample_rows=60)
    assert ds.train_stream is not None and len(ds.train) == 60
