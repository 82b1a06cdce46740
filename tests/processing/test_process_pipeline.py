"""process() on good data: tables, joins, features from the counting code, manifest, atomic output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hwpower import __version__
from hwpower.errors import InputError
from hwpower.networks import read_networks
from hwpower.processing import load_processed, process

from .rawfiles import HEADER, NETS, make_rows, standard_raw


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return standard_raw(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def ds(raw):
    return process(raw, progress=False)


def test_samples_merge_shards_and_keep_values(ds):
    expected = pd.DataFrame(make_rows(30, 1) + make_rows(20, 2))
    assert len(ds.train) == 50 and len(ds.val) == 10
    assert list(ds.train.columns) == HEADER
    for col in HEADER:
        if col in ("network", "dataflow"):
            assert ds.train[col].astype(str).tolist() == expected[col].tolist()
        else:
            np.testing.assert_allclose(ds.train[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float))
    assert ds.train["pe_rows"].dtype == np.int64 and ds.train["bits"].dtype == np.int64
    assert ds.train["dram_gbps"].dtype == np.float64
    assert isinstance(ds.train["dataflow"].dtype, pd.CategoricalDtype)
    assert list(ds.train["dataflow"].cat.categories) == ["os", "ws"]  # the allowed values, in schema order
    # targets: float64, exactly the values of the text (stored as decimals, see test_process_storage)
    for t in ("P_core", "P_bw", "P", "latency_ms", "energy_mj"):
        assert ds.train[t].dtype == np.float64
        assert ds.train[t].tolist() == expected[t].tolist()


def test_network_column_joins_the_networks_table(ds):
    assert ds.networks["network"].astype(str).tolist() == [f"nets_0/{i}" for i in sorted(NETS)]
    # one dictionary for every table: category codes index the networks table
    codes = ds.train["network"].cat.codes.to_numpy()
    assert (ds.networks["network"].astype(str).to_numpy()[codes] == ds.train["network"].astype(str).to_numpy()).all()
    assert set(ds.val["network"].astype(str)) == {"nets_0/1", "nets_0/3"}
    assert ds.unseen_network_mask().sum() == (ds.val["network"] == "nets_0/3").sum() > 0


def test_network_features_match_the_counting_code(ds):
    for _, row in ds.networks.iterrows():
        net = NETS[row["net_id"]]
        for name in ("macs", "flops", "other_ops", "weights", "in_act", "out_act", "depth", "n_layers"):
            assert row[name] == getattr(net.counts, name), name
        assert row["n_blocks"] == len(net.blocks) and row["input_resolution"] == net.input_resolution
        assert json.loads(row["definition"]) == net.to_dict()


def test_block_and_layer_tables_are_complete_and_numeric(ds):
    net = NETS[2]
    blocks = ds.blocks[ds.blocks["network"] == "nets_0/2"]
    assert blocks["block_index"].tolist() == list(range(len(net.blocks)))
    for (_, row), block, counts in zip(blocks.iterrows(), net.blocks, net.block_counts()):
        assert row["type"] == block.type_name
        assert (row["in_channels"], row["in_size"]) == block.in_shape
        assert (row["out_channels"], row["out_size"]) == block.out_shape
        assert row["macs"] == counts.macs and row["weights"] == counts.weights
        if hasattr(block, "expand_ratio"):
            assert row["expand_ratio"] == block.expand_ratio and row["kernel"] == block.kernel
    layers = ds.layers[ds.layers["network"] == "nets_0/2"]
    assert len(layers) == len(net.layers)
    assert layers["macs"].tolist() == [x.macs for x in net.layers]
    assert layers["block_index"].tolist() == [i for i, b in enumerate(net.block_layers) for _ in b]
    for table in (ds.blocks, ds.layers):
        numeric = table.drop(columns=["network", "type"], errors="ignore")
        assert all(dt.kind in "if" for dt in numeric.dtypes) and not numeric.isna().any().any()


def test_manifest_roles_units_counts_hashes(ds, raw):
    m = ds.manifest
    assert m["hwpower_version"] == __version__
    assert ds.hardware_numeric == ["pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps", "freq_mhz"]
    assert ds.hardware_categorical == {"bits": [8, 16], "dataflow": ["os", "ws"]}
    assert ds.targets == ["P_core", "P_bw", "P", "latency_ms", "energy_mj"]
    assert m["units"]["P"] == "W" and m["units"]["latency_ms"] == "ms" and m["units"]["freq_mhz"] == "MHz"
    assert m["counts"]["train_rows"] == 50 and m["counts"]["networks_only_in_val"] == 1
    import hashlib
    hashes = {s["file"]: s["sha256"] for s in m["sources"]}
    assert hashes["train_1.txt"] == hashlib.sha256((raw / "train_1.txt").read_bytes()).hexdigest()
    assert set(hashes) == {"nets_0.json", "train_0.txt", "train_1.txt", "val_0.txt"}
    assert m["ranges"]["bits"] == [8, 16] and m["schema"]["inferred"] is True


def test_written_output_round_trips_and_is_deterministic(raw, tmp_path):
    a = process(raw, tmp_path / "a", progress=False)
    process(raw, tmp_path / "b", progress=False)
    back = load_processed(tmp_path / "a")
    for name in ("train", "val", "networks", "blocks", "layers"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(a, name), check_exact=True)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert back.manifest == json.loads(json.dumps(a.manifest))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folders left


def test_fast_network_reader_agrees_with_read_networks(raw):
    from hwpower.processing.netread import read_nets_fast

    distinct = {}
    fast, ids, _ = read_nets_fast(raw / "nets_0.json", distinct)
    assert fast == read_networks(raw / "nets_0.json")
    blocks = list(distinct)
    assert [[blocks[j] for j in net_ids] for net_ids in ids] == [list(net.blocks) for net in fast.values()]


def test_network_set_add_network_gives_the_same_features(ds):
    """Features for networks built in memory (prediction time) equal those of the processed files."""
    from hwpower.processing.features import feature_tables
    from hwpower.processing.netread import NetworkSet

    nets = NetworkSet()
    for net_id in sorted(NETS):
        nets.add_network(f"nets_0/{net_id}", NETS[net_id], source_file="nets_0.json", net_id=net_id)
    networks, blocks, layers, ops = feature_tables(nets)
    # sampled networks hold expand_ratio 1 (int) where JSON-read ones hold 1.0: equal values, other text
    assert [json.loads(d) for d in networks.pop("definition")] == [json.loads(d) for d in ds.networks["definition"]]
    pd.testing.assert_frame_equal(networks, ds.networks.drop(columns="definition"))
    pd.testing.assert_frame_equal(blocks, ds.blocks)
    pd.testing.assert_frame_equal(layers, ds.layers)
    pd.testing.assert_frame_equal(ops, ds.ops)
    with pytest.raises(Exception, match="added twice"):
        nets.add_network("nets_0/0", NETS[0])


def test_fast_network_reader_falls_back_on_any_other_layout(raw, tmp_path):
    """Files not in dumps_networks' exact layout take the checking parser: same networks, or its
    precise error (a repeated id, a repeated field, which a fast JSON parser would silently drop)."""
    from hwpower.processing.netread import read_nets_fast

    text = (raw / "nets_0.json").read_text()
    canonical = read_networks(raw / "nets_0.json")
    compact = tmp_path / "nets_c.json"
    compact.write_text(json.dumps(json.loads(text)))  # one line, other separators
    assert read_nets_fast(compact)[0] == canonical
    repeated = tmp_path / "nets_r.json"  # the first network again under the id of the last
    first = text[2:text.index('\n "1"') - 1]
    repeated.write_text(text[:-3] + ",\n" + first.replace('"0":', '"3":', 1) + "\n}\n")
    with pytest.raises(InputError, match="duplicate network id 3"):
        read_nets_fast(repeated)
    field = tmp_path / "nets_f.json"
    field.write_text(text.replace('"kernel": 3,', '"kernel": 3, "kernel": 5,', 1))
    with pytest.raises(InputError, match="duplicate key 'kernel'"):
        read_nets_fast(field)
