"""nets_*.json: every bad-input case names file, network id and block; atomic writes; round trip."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.networks import Network, parse_networks, read_networks, write_networks
from hwpower.networks.blocks import AddBlock, ConvBlock, LinearBlock, MBConvBlock, PoolBlock, ResidualBlock
from hwpower.networks.jsonio import dumps_networks

STEM = {"type": "conv", "in_channels": 3, "out_channels": 16, "kernel": 3, "input_size": 32, "stride": 2}
MB = {"type": "mbconv", "in_channels": 16, "out_channels": 24, "expand_ratio": 4, "kernel": 5, "stride": 2,
      "input_size": 16, "se": True}
POOL = {"type": "pool", "channels": 24, "input_size": 8, "global_pool": True}
FC = {"type": "linear", "in_features": 24, "out_features": 10}


def good_net() -> dict:
    return {"input_resolution": 32, "blocks": [dict(STEM), dict(MB), dict(POOL), dict(FC)]}


def write(tmp_path: pathlib.Path, obj_or_text, name="nets_x.json") -> pathlib.Path:
    path = tmp_path / name
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: pathlib.Path) -> str:
    with pytest.raises(InputError) as info:
        read_networks(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_reads_a_good_file(tmp_path):
    nets = read_networks(write(tmp_path, {"0": good_net(), "17": good_net()}))
    assert sorted(nets) == [0, 17]
    net = nets[17]
    assert [b.type_name for b in net.blocks] == ["conv", "mbconv", "pool", "linear"]
    assert net.blocks[1].expand_ratio == 4.0 and net.blocks[1].se is True
    assert net.blocks[-1].out_shape == (10, 1)


def with_block(index: int, **changes) -> dict:
    net = good_net()
    block = net["blocks"][index]
    for key, value in changes.items():
        if value is ...:
            del block[key]
        else:
            block[key] = value
    return {"0": good_net(), "3": net}


@pytest.mark.parametrize("index, changes, problem", [
    (1, {"type": "fancyconv"}, "unknown block type 'fancyconv'"),
    (1, {"type": ["conv"]}, "unknown block type ['conv']"),
    (1, {"type": ...}, "unknown block type None"),
    (1, {"kernel": ...}, "missing field 'kernel'"),
    (1, {"kernel": 0}, "field 'kernel' must be positive, got 0"),
    (0, {"out_channels": -16}, "field 'out_channels' must be positive"),
    (1, {"expand_ratio": 0}, "field 'expand_ratio' must be positive"),
    (1, {"stride": 1.5}, "field 'stride' must be an integer"),
    (1, {"stride": True}, "field 'stride' must be an integer"),
    (1, {"kernel": None}, "field 'kernel' must not be null"),
    (1, {"se": "yes"}, "field 'se' must be true or false"),
    (1, {"activation": "gelu"}, "field 'activation' must be one of"),
    (1, {"colour": "red"}, "unknown field(s) ['colour']"),
    (1, {"in_channels": 32}, "block 1 (mbconv) expects input (channels, size) (32, 16) but the previous output is (16, 16)"),
    (2, {"input_size": 4}, "block 2 (pool) expects input"),
    (3, {"in_features": 25}, "block 3 (linear)"),
])
def test_bad_block_names_file_network_and_block(tmp_path, index, changes, problem):
    message = error_of(write(tmp_path, with_block(index, **changes)))
    assert "network 3" in message
    assert f"block {index}" in message
    assert problem in message


def test_repeated_blocks_are_each_validated(tmp_path):
    # A valid block read first must not let an equal-looking invalid one through (true == 1 in Python).
    good, bad = good_net(), good_net()
    bad["blocks"][1]["stride"] = True
    message = error_of(write(tmp_path, {"0": good, "1": bad}))
    assert "network 1: block 1: field 'stride' must be an integer, got True" in message


def test_block_not_an_object(tmp_path):
    net = good_net()
    net["blocks"][2] = [1, 2]
    message = error_of(write(tmp_path, {"5": net}))
    assert "network 5: block 2: a block must be a JSON object, got list" in message


def test_malformed_json_names_line_and_column(tmp_path):
    text = '{\n "0": {"input_resolution": 32,\n  "blocks": [}\n}\n'
    message = error_of(write(tmp_path, text))
    assert "malformed JSON" in message and "line 3 column" in message


@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_empty_file(tmp_path, text):
    assert "empty file" in error_of(write(tmp_path, text))


def test_no_networks(tmp_path):
    assert "no networks" in error_of(write(tmp_path, "{}"))


def test_not_an_object(tmp_path):
    assert "expected a JSON object mapping network ids" in error_of(write(tmp_path, [good_net()]))


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "nets_bad.json"
    path.write_bytes(b'{\n "0": {"name": "caf\xe9",\n')
    message = error_of(path)
    assert "not UTF-8" in message and "0xe9" in message and "line 2" in message


def test_duplicate_network_ids(tmp_path):
    net = json.dumps(good_net())
    message = error_of(write(tmp_path, f'{{"4": {net}, "4": {net}}}'))
    assert "network 4" in message and "duplicate network id 4" in message


def test_duplicate_field_inside_a_block(tmp_path):
    text = dumps_networks({2: Network.from_dict(good_net())}).replace('"kernel": 5', '"kernel": 5, "kernel": 3')
    message = error_of(write(tmp_path, text))
    assert "network 2: block 1: duplicate key 'kernel'" in message


@pytest.mark.parametrize("key", ["-1", "abc", "07", " 7", "+7", "1.0"])
def test_bad_network_ids(tmp_path, key):
    assert "must be a non-negative integer written plainly" in error_of(write(tmp_path, {key: good_net()}))


@pytest.mark.parametrize("changes, problem", [
    ({"blocks": []}, "'blocks' must be a non-empty list"),
    ({"input_resolution": 0}, "input_resolution must be a positive integer"),
    ({"input_resolution": 33}, "block 0 (conv) expects input (channels, size) (3, 32) but the previous output is (3, 33)"),
    ({"name": 5}, "'name' must be a string"),
    ({"depth": 3}, "unknown network field(s) ['depth']"),
])
def test_bad_network_fields(tmp_path, changes, problem):
    message = error_of(write(tmp_path, {"9": {**good_net(), **changes}}))
    assert "network 9" in message and problem in message


def test_missing_file(tmp_path):
    assert "cannot read" in error_of(tmp_path / "nets_missing.json")


def test_bare_block_list_takes_resolution_from_first_block(tmp_path):
    nets = read_networks(write(tmp_path, {"1": good_net()["blocks"]}))
    assert nets[1].input_resolution == 32


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "nets_0.json"
    first = {0: Network.from_dict(good_net())}
    write_networks(path, first)
    before = path.read_bytes()

    def half_then_fail(self, text, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as fh:
            fh.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", half_then_fail)
    with pytest.raises(OSError):
        write_networks(path, {0: first[0], 1: first[0]})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["nets_0.json"]  # no temporary file left behind
    assert read_networks(path) == first


# --- Hypothesis round trip: random valid networks -> JSON -> the same networks ---------------------

@st.composite
def blocks_after(draw, shape):
    channels, size = shape
    kind = draw(st.sampled_from(["conv", "dwconv", "mbconv", "resblock", "pool", "add"]))
    if kind == "conv":
        return ConvBlock(channels, draw(st.integers(1, 48)), draw(st.sampled_from([1, 3, 5])), size,
                         stride=draw(st.sampled_from([1, 2])), activation=draw(st.sampled_from(["relu", "hswish", "none"])),
                         bias=draw(st.booleans()), norm=draw(st.booleans()))
    if kind == "dwconv":
        return ConvBlock(channels, channels, 3, size, groups=channels, stride=draw(st.sampled_from([1, 2])))
    if kind == "mbconv":
        return MBConvBlock(channels, draw(st.integers(1, 48)), draw(st.floats(1.0, 8.0)), draw(st.sampled_from([3, 5, 7])),
                           draw(st.sampled_from([1, 2])), size, se=draw(st.booleans()),
                           activation=draw(st.sampled_from(["relu", "swish"])))
    if kind == "resblock":
        return ResidualBlock(channels, draw(st.integers(1, 48)), draw(st.integers(1, 32)), size,
                             stride=draw(st.sampled_from([1, 2])), kind=draw(st.sampled_from(["basic", "bottleneck"])))
    if kind == "pool" and size >= 2:
        return PoolBlock(channels, size, mode=draw(st.sampled_from(["avg", "max"])), kernel=2)
    if kind == "pool":
        return PoolBlock(channels, size, global_pool=True)
    return AddBlock(channels, size)


@st.composite
def networks(draw):
    resolution = draw(st.integers(1, 64))
    shape, blocks = (3, resolution), []
    for _ in range(draw(st.integers(1, 6))):
        blocks.append(draw(blocks_after(shape)))
        shape = blocks[-1].out_shape
    if draw(st.booleans()):
        blocks.append(LinearBlock(shape[0] * shape[1] ** 2, draw(st.integers(1, 100)), bias=draw(st.booleans())))
    return Network.build(blocks, resolution, draw(st.none() | st.text(max_size=12)))


@given(st.dictionaries(st.integers(0, 10**6), networks(), min_size=1, max_size=3))
def test_json_round_trip_returns_the_same_networks(nets):
    back = parse_networks(dumps_networks(nets))
    assert back == nets
    assert {k: n.counts for k, n in back.items()} == {k: n.counts for k, n in nets.items()}


def test_the_documented_example_reads():
    doc = pathlib.Path(__file__).parents[2] / "docs" / "data-format.md"
    example = doc.read_text(encoding="utf-8").split("```json\n", 1)[1].split("```", 1)[0]
    nets = parse_networks(example, file=str(doc))
    assert list(nets) == [0] and nets[0].blocks[-1].out_shape == (1000, 1)
