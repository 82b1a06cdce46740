"""Encoders: fitted on train, plain-number JSON, clear errors on bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.model.encoding import ElementEncoder, HardwareEncoder, OutOfRangeWarning
from hwpower.model.tables import network_tables
from hwpower.networks import sample_networks

from .conftest import HW_CATEGORICAL, HW_NUMERIC


@pytest.fixture(scope="module")
def hw_enc(tiny_ds) -> HardwareEncoder:
    return HardwareEncoder.fit(tiny_ds.train, HW_NUMERIC, HW_CATEGORICAL)


def test_hardware_encoder_standardises_and_one_hots(hw_enc, tiny_ds):
    x = hw_enc.encode(tiny_ds.train[hw_enc.columns])
    assert x.shape == (len(tiny_ds.train), len(HW_NUMERIC) + 4)
    np.testing.assert_allclose(x[:, :len(HW_NUMERIC)].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:, :len(HW_NUMERIC)].std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(x[:, len(HW_NUMERIC):].sum(axis=1), 2)  # one hot per categorical
    spec = {s.name: s for s in hw_enc.numeric}
    assert spec["glb_kib"].log2 and spec["freq_mhz"].log2 is False  # 64..512 spans octaves; 200..1000 < 8x
    assert spec["pe_rows"].grid == [8.0, 16.0, 32.0]


def test_hardware_encoder_json_roundtrip(hw_enc, tiny_ds):
    again = HardwareEncoder.from_dict(json.loads(json.dumps(hw_enc.to_dict())))
    frame = tiny_ds.val[hw_enc.columns]
    np.testing.assert_array_equal(again.encode(frame), hw_enc.encode(frame))


@given(st.data())
def test_decode_inverts_encode(hw_enc, data):
    row = {s.name: data.draw(st.floats(s.min, s.max)) for s in hw_enc.numeric}
    row.update({k: data.draw(st.sampled_from(v)) for k, v in hw_enc.categorical.items()})
    frame = pd.DataFrame([row])
    back = hw_enc.decode(hw_enc.encode(frame))
    for s in hw_enc.numeric:
        assert back[s.name].iloc[0] == pytest.approx(row[s.name], rel=1e-5)
    for k in hw_enc.categorical:
        assert back[k].iloc[0] == row[k]


def _row(**change):
    row = {"pe_rows": 16, "pe_cols": 16, "glb_kib": 128, "dram_gbps": 8, "freq_mhz": 400, "bits": "8", "dataflow": "ws"}
    return pd.DataFrame([{**row, **change}])


def test_bad_hardware_is_named(hw_enc):
    with pytest.raises(InputError, match="unknown hardware parameter.*'sram_kib'"):
        hw_enc.encode(_row(sram_kib=3))
    with pytest.raises(InputError, match="missing hardware parameter.*pe_rows"):
        hw_enc.encode(_row().drop(columns="pe_rows"))
    with pytest.raises(InputError, match=r"row 0: dataflow='rs' is not one of"):
        hw_enc.encode(_row(dataflow="rs"))
    with pytest.raises(InputError, match="freq_mhz='fast' is not a number"):
        hw_enc.encode(_row(freq_mhz="fast"))


def test_out_of_range_warns_or_raises(hw_enc):
    with pytest.warns(OutOfRangeWarning, match=r"pe_rows=128 is outside the trained range \[8, 32\]"):
        hw_enc.encode(_row(pe_rows=128))
    with pytest.raises(InputError, match="outside the trained range"):
        hw_enc.encode(_row(pe_rows=128), out_of_range="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hw_enc.encode(_row())  # in range: silent


def test_element_encoder_pads_with_mask(tiny_ds):
    enc = ElementEncoder.fit(tiny_ds.blocks, "blocks")
    keys = sorted(tiny_ds.networks["network"])
    x, mask = enc.encode(tiny_ds.blocks, keys)
    n_blocks = tiny_ds.networks.set_index("network").loc[keys, "n_blocks"].to_numpy()
    np.testing.assert_array_equal(mask.sum(axis=1), n_blocks)
    assert x.shape == (len(keys), n_blocks.max(), enc.width)
    assert np.all(x[~mask] == 0)  # zero blocks beyond each network's end
    assert set(enc.types) == {"conv", "mbconv", "pool", "linear"}


def test_element_encoding_ignores_row_order(tiny_ds):
    enc = ElementEncoder.fit(tiny_ds.layers, "layers")
    keys = sorted(tiny_ds.networks["network"])[:5]
    shuffled = tiny_ds.layers.sample(frac=1.0, random_state=3)
    a, ma = enc.encode(tiny_ds.layers, keys)
    b, mb = enc.encode(shuffled, keys)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)


def test_unknown_block_type_is_named(tiny_ds):
    enc = ElementEncoder.fit(tiny_ds.blocks[tiny_ds.blocks["type"] != "pool"], "blocks")
    with pytest.raises(InputError, match=r"network nets_0/\d+, block_index \d+: type .pool. was never seen in training"):
        enc.encode(tiny_ds.blocks, sorted(tiny_ds.networks["network"]))


def test_network_tables_match_counts():
    nets = {f"n/{k}": v for k, v in sample_networks("ofa-mbv3", 3, 5).items()}
    networks, blocks, layers = network_tables(nets)
    for key, net in nets.items():
        assert blocks[blocks.network == key]["macs"].sum() == net.counts.macs
        assert layers[layers.network == key]["weights"].sum() == net.counts.weights
        assert len(layers[layers.network == key]) == networks.set_index("network").loc[key, "n_layers"]
