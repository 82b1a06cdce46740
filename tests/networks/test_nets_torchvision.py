"""torchvision import: counts against torchvision's published figures, and the packaged references."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch import nn  # noqa: E402

from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import Network, reference_networks  # noqa: E402
from hwpower.networks.blocks import MBConvBlock, ResidualBlock  # noqa: E402
from hwpower.networks.jsonio import dumps_networks  # noqa: E402
from hwpower.networks.reference import REFERENCE_MODELS  # noqa: E402
from hwpower.networks.torchvision_import import import_module, import_torchvision, published_counts  # noqa: E402


@pytest.fixture(scope="module")
def imported() -> dict[str, Network]:
    return {name: import_torchvision(name) for name in (*REFERENCE_MODELS, "alexnet")}


@pytest.mark.parametrize("name", [*REFERENCE_MODELS, "alexnet"])
def test_counts_match_torchvision_published_figures(imported, name):
    macs, params = published_counts(name)
    counts = imported[name].counts
    assert counts.macs == pytest.approx(macs, rel=0.01)
    assert counts.weights == pytest.approx(params, rel=0.01)


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_weights_equal_the_built_models_parameters(imported, name):
    with torch.device("meta"):  # shapes only: fast, and numel() is all we need
        model = torchvision.models.get_model(name, weights=None)
    assert imported[name].counts.weights == sum(p.numel() for p in model.parameters())


def test_block_structure(imported):
    r50 = imported["resnet50"]
    assert sum(isinstance(b, ResidualBlock) and b.kind == "bottleneck" for b in r50.blocks) == 16
    assert r50.counts.depth == 50
    assert imported["resnet18"].counts.depth == 18
    mbv3 = [b for b in imported["mobilenet_v3_large"].blocks if isinstance(b, MBConvBlock)]
    assert len(mbv3) == 15 and sum(b.se for b in mbv3) == 8
    assert {b.activation for b in mbv3} == {"relu", "hswish"}
    assert mbv3[3].se_channels == 24  # _make_divisible(72 // 4, 8)
    effnet = [b for b in imported["efficientnet_b0"].blocks if isinstance(b, MBConvBlock)]
    assert len(effnet) == 16 and all(b.se for b in effnet)
    assert effnet[1].se_channels == 4  # max(1, 16 // 4): EfficientNet squeezes from the block input


def test_other_resolution_and_classes():
    net = import_torchvision("mobilenet_v2", num_classes=10, resolution=160)
    assert net.input_resolution == 160 and net.blocks[-1].out_shape == (10, 1)
    assert net.blocks[0].input_size == 160


def test_packaged_reference_file_equals_a_fresh_import(imported):
    packaged = reference_networks()
    assert list(packaged) == list(REFERENCE_MODELS)
    assert packaged == {name: imported[name] for name in REFERENCE_MODELS}
    from importlib import resources
    text = resources.files("hwpower.networks").joinpath("data/reference.json").read_text(encoding="utf-8")
    assert text == dumps_networks({i: imported[name] for i, name in enumerate(REFERENCE_MODELS)})


def test_resolution_too_small_is_a_clear_error():
    # AlexNet's third max pool (3 x 3) meets a 1 x 1 feature map at 32 px.
    with pytest.raises(InputError, match="alexnet: fails on a 32 px input"):
        import_torchvision("alexnet", resolution=32)


def test_unknown_model_name():
    with pytest.raises(InputError, match="unknown torchvision classification model"):
        import_torchvision("resnet5000")


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_top_level_branches_are_rejected():
    with pytest.raises(InputError, match="not a chain of known blocks"):
        import_module(_Branchy(), 16)


def test_unknown_module_class_is_rejected():
    with pytest.raises(InputError, match="unsupported module class .*GELU"):
        import_module(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.GELU()), 16)


def test_plain_layers_fold_norm_and_activation():
    net = import_module(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(), nn.Linear(8, 4)), 16)
    conv = net.blocks[0]
    assert (conv.norm, conv.bias, conv.activation, conv.out_shape) == (True, True, "relu6", (8, 8))
    assert [b.type_name for b in net.blocks] == ["conv", "pool", "linear"]
    assert net.counts.weights == 3 * 9 * 8 + 8 + 16 + 8 * 4 + 4
