"""The operator-level PyTorch importer: converters on small modules, then torchvision models
against the published MACs and parameter counts, the oracle on each, fvcore on the others."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import GraphNetwork, LayerOp, import_network  # noqa: E402
from hwpower.networks.importers.torch_graph import graph_from_module  # noqa: E402
from hwpower.networks.importers.torchvision import build_any_device, published_counts  # noqa: E402


def convert(module: nn.Module, *shapes: tuple[int, ...]) -> GraphNetwork:
    net = graph_from_module(module, tuple(torch.zeros(s) for s in shapes), name="m")
    assert net.counts.weights == sum(p.numel() for p in module.parameters())  # every test: weights exact
    return net


def by_kind(net: GraphNetwork, kind: LayerOp) -> list:
    return [op for op in net.ops if op.kind is kind]


# -- converters on small modules ------------------------------------------------------------------
def test_conv_batch_norm_and_relu_fold_into_one_operator():
    net = convert(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()),
                  (1, 3, 16, 16))
    (conv,) = net.ops
    assert conv.kind is LayerOp.CONV and conv.attr("norm") == "batch" and conv.attr("act") == "relu"
    assert conv.out_shape == (1, 8, 8, 8) and conv.macs == 8 * 8 * 8 * 3 * 9
    assert conv.weights == 8 * 3 * 9 + 2 * 8 and conv.name == "0"  # named by the module path


def test_batch_norm_with_a_second_reader_stays_a_norm_operator():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    net = convert(Branchy(), (1, 4, 5, 5))
    assert [op.kind_name for op in net.ops] == ["conv2d", "norm", "eltwise"]
    assert net.ops[1].attr("fn") == "batch" and net.ops[1].attr("affine") == 8


def test_shared_kernel_counted_once():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    net = convert(Shared(), (1, 4, 6, 6))
    first, second = by_kind(net, LayerOp.CONV)
    assert not first.attr("shared") and second.attr("shared") and second.macs == first.macs == 36 * 4 * 36


def test_attention_expands_into_matmuls_softmax_and_scale():
    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    net = convert(Attn(), (2, 4, 10, 8), (2, 4, 12, 8), (2, 4, 12, 16))
    qk, av = by_kind(net, LayerOp.MATMUL)
    assert qk.out_shape == (2, 4, 10, 12) and qk.macs == 2 * 4 * 10 * 12 * 8
    assert av.out_shape == (2, 4, 10, 16) and av.macs == 2 * 4 * 10 * 16 * 12
    assert len(by_kind(net, LayerOp.SOFTMAX)) == 1 and net.ops[-1] is av


def test_extra_parameters_land_on_the_operator_that_reads_them():
    class Tokens(nn.Module):  # a class token concatenated, a position embedding added, a layer scale
        def __init__(self):
            super().__init__()
            self.cls, self.pos = nn.Parameter(torch.zeros(1, 1, 8)), nn.Parameter(torch.zeros(1, 5, 8))
            self.scale, self.fc = nn.Parameter(torch.ones(8)), nn.Linear(8, 8)

        def forward(self, x):
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            return self.fc(x) * self.scale

    net = convert(Tokens(), (2, 4, 8))
    params = {op.kind_name + ":" + op.attr_dict.get("fn", ""): op.attr("params") for op in net.ops}
    assert params == {"move:concat": 8, "eltwise:add": 40, "linear:": 0, "eltwise:mul": 8}


def test_conv1d_conv3d_and_transposed_conv_keep_macs_and_weights():
    net = convert(nn.Conv1d(4, 6, 3, padding=1), (1, 4, 10))
    assert net.counts.macs == 10 * 6 * 4 * 3 and net.ops[-1].out_shape == (1, 6, 10)
    net = convert(nn.Conv3d(3, 8, (3, 3, 3), stride=(1, 2, 2), padding=1), (1, 3, 8, 16, 16))
    assert net.counts.macs == 8 * 8 * 8 * 8 * 3 * 27 and net.ops[-1].out_shape == (1, 8, 8, 8, 8)
    net = convert(nn.ConvTranspose2d(8, 4, 2, stride=2), (1, 8, 5, 5))
    assert net.counts.macs == 25 * 8 * 4 * 4 and net.ops[-1].out_shape == (1, 4, 10, 10)


def test_split_views_and_no_ops():
    class Split(nn.Module):
        def forward(self, x):
            a, b = torch.chunk(F.dropout(x, 0.5, training=False), 2, dim=1)
            return torch.cat([b.flatten(1), a.reshape(a.shape[0], -1)], dim=1)

    net = convert(Split(), (2, 6, 3))
    assert [(op.kind_name, op.attr("fn")) for op in net.ops] == [
        ("move", "slice"), ("move", "slice"), ("move", "view"), ("move", "view"), ("move", "concat")]
    assert by_kind(net, LayerOp.MOVE)[2].geometry().i_words == 0  # a view moves nothing


def test_unsupported_operator_names_module_and_aten_op():
    class Inner(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)

    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(Inner()))
    with pytest.raises(InputError, match=r"^1\.0 \(aten\.cumsum\.default\): operator not expressible in hwpower$"):
        convert(model, (1, 4))


def test_data_dependent_control_flow_is_one_clear_error():
    class Branch(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1

    with pytest.raises(InputError, match=r"^Branch: cannot be traced: torch\.export: ") as err:
        graph_from_module(Branch(), (torch.ones(1, 3),))
    assert "\n" not in str(err.value)


# -- torchvision by name ----------------------------------------------------------------------------
def check_published(name: str) -> GraphNetwork:
    net = import_network(f"torchvision:{name}")
    macs, params = published_counts(name)
    assert abs(net.counts.macs - macs) <= max(0.01 * macs, 0.0005e9), (name, net.counts.macs, macs)
    assert net.counts.weights == params == sum(p.numel() for p in build_any_device(name, None).parameters())
    return net


FAST = ["resnet50", "mobilenet_v3_large", "shufflenet_v2_x1_0", "regnet_y_400mf"]
SLOW = ["densenet121", "resnext50_32x4d", "vit_b_16", "swin_t", "convnext_tiny", "efficientnet_b3"]


@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_torchvision_macs_and_weights_match_published(name):
    net = check_published(name)
    from hwpower.oracle import HardwareSpace, Oracle

    out = Oracle().evaluate(net, HardwareSpace.default().sample(4, 0))
    assert np.isfinite(out["P"]).all() and (out["P"] > 0).all()


def test_native_resolution_and_overrides():
    net = import_network("torchvision:efficientnet_b3")
    assert net.input_shape == (1, 3, 300, 300) and net.source == "torchvision:efficientnet_b3"
    small = import_network("torchvision:resnet18", resolution=64, batch=2, num_classes=10)
    assert small.input_shape == (2, 3, 64, 64) and small.ops[-1].out_shape == (2, 10)
    video = import_network("torchvision:r3d_18", input_shape=(1, 3, 8, 112, 112))
    assert video.input_shape == (1, 3, 8, 112, 112)


def test_unknown_name_lists_close_matches():
    with pytest.raises(InputError, match=r"torchvision:resnet5: unknown torchvision model \(did you mean resnet50"):
        import_network("torchvision:resnet5")


def _fvcore_macs(module: nn.Module, inputs: tuple) -> float:
    fvcore = pytest.importorskip("fvcore.nn")
    analysis = fvcore.FlopCountAnalysis(module, inputs)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # fvcore counts one multiply-add as one flop, and norms, pooling and upsampling too: keep the MAC ops.
    return sum(v for k, v in analysis.by_operator().items() if k in ("conv", "linear", "matmul", "addmm", "bmm",
                                                                     "einsum", "mm"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deeplabv3_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large"])
def test_segmentation_and_detection_match_fvcore(name):
    from hwpower.networks.importers.torchvision import build, family_of
    from hwpower.networks.importers.tv_detection import detection_inputs, traceable_detection

    model = build(name, None, "cpu")
    net = import_network(f"torchvision:{name}")
    if family_of(name) == "detection":
        model = traceable_detection(model)
        assert net.input_shape == (1, 3, 320, 320) and list(detection_inputs(model.model, _options())) == ["images"]
    inputs = tuple(torch.rand(s) for _, s in net.inputs)
    with torch.no_grad():
        reference = _fvcore_macs(model, inputs)
    assert net.counts.macs == pytest.approx(reference, rel=0.02)
    assert net.counts.weights == sum(p.numel() for p in model.parameters())


def _options():
    from hwpower.networks.importers import ImportOptions

    return ImportOptions()


def test_detection_imports_backbone_and_heads_with_all_parameters():
    net = import_network("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    # the image at the model's own size, and the regions the RPN keeps at test time (150 for this model)
    assert net.inputs == (("images", (1, 3, 320, 320)), ("box_rois", (150, 256, 7, 7)))
    model = build_any_device("fasterrcnn_mobilenet_v3_large_320_fpn", None)
    assert net.counts.weights == sum(p.numel() for p in model.parameters())
    # torchvision's published figure for this model counts the backbone and RPN only (no regions)
    dense = sum(op.macs for op in net.ops if not op.name.startswith("model.roi_heads."))
    assert dense == pytest.approx(published_counts("fasterrcnn_mobilenet_v3_large_320_fpn")[0], rel=0.01)
    assert net.counts.macs - dense == 150 * (256 * 49 * 1024 + 1024 * 1024 + 1024 * 91 * 5)  # box head, predictor


# -- module factories -----------------------------------------------------------------------------
def test_module_factory_with_keywords_and_input_shape():
    net = import_network("module:torch.nn:Linear?in_features=8&out_features=4", input_shape=(2, 8))
    assert net.counts.macs == 2 * 8 * 4 and net.counts.weights == 36 and net.name == "Linear"
    net = import_network("module:torchvision.models:resnet18?num_classes=10", resolution=32)
    assert net.input_shape == (1, 3, 32, 32) and net.counts.weights == 11181642


@pytest.mark.parametrize("spec, message", [
    ("module:torch.nn", "expected module:PACKAGE.MODULE:FACTORY"),
    ("module:no_such_pkg:f", "cannot import 'no_such_pkg'"),
    ("module:torch.nn:Nope", "'torch.nn' has no callable 'Nope'"),
    ("module:torch.nn:Linear?in_features=8&out_features=4", "give --input-shape"),
    ("module:torch.nn:Linear?in_features=8&bogus=1", "calling the factory failed"),
    ("module:timm:create_model?model_name=resnet50&pretrained=True", "never downloaded"),
])
def test_module_factory_errors(spec, message):
    with pytest.raises(InputError, match=message):
        import_network(spec)


def test_make_fx_fallback_gives_the_same_counts(monkeypatch):
    from hwpower.networks.importers import torch_graph

    model = torchvision.models.mobilenet_v3_small()
    exported = convert(model, (1, 3, 64, 64))

    def no_export(*args, **kwargs):
        raise RuntimeError("export unavailable")

    monkeypatch.setattr(torch_graph, "_capture_export", no_export)
    traced = convert(model, (1, 3, 64, 64))
    assert traced.counts.macs == exported.counts.macs and traced.counts.weights == exported.counts.weights
    assert traced.ops[0].name == "convolution"  # make_fx keeps no module paths


def test_einsum_reductions_and_multi_output_reductions():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(torch.zeros(4, 6, 8))  # per-head table, as MViT's relative positions

        def forward(self, x, y):  # x (2, 4, 5, 8), y (2, 4, 8, 3)
            a = torch.einsum("bhqd,bhdk->bhqk", x, y)
            r = torch.einsum("bhqd,hkd->bhqk", x, self.table)
            values, _ = r.max(dim=-1)
            var, mean = torch.var_mean(a, dim=-1)
            return values + var + mean

    net = convert(Mixed(), (2, 4, 5, 8), (2, 4, 8, 3))
    (mm,) = by_kind(net, LayerOp.MATMUL)
    (lin,) = by_kind(net, LayerOp.LINEAR)
    assert mm.macs == 2 * 4 * 5 * 3 * 8 and lin.macs == 2 * 4 * 5 * 6 * 8
    assert lin.attr("shared") and lin.weights == 4 * 6 * 8  # the table, counted once as params
    pools = by_kind(net, LayerOp.POOL)
    assert [(p.attr("fn"), p.other_ops) for p in pools] == [("max", 2 * 4 * 5 * 6), ("avg", 2 * 4 * 5 * 3)]
    assert net.ops[-1].out_shape == (2, 4, 5)


def test_computed_and_fixed_kernels_count_their_parameters_only():
    class Kernels(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight, self.gain = nn.Parameter(torch.ones(6, 3, 3, 3)), nn.Parameter(torch.ones(6, 1, 1, 1))
            self.register_buffer("blur", torch.ones(6, 1, 3, 3) / 9)  # a fixed filter: no parameter

        def forward(self, x):
            w = (self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)) * self.gain  # standardised
            return F.conv2d(F.conv2d(x, w, padding=1), self.blur, padding=1, groups=6)

    net = convert(Kernels(), (1, 3, 8, 8))
    std, blur = net.ops
    assert (std.weights, std.attr("params"), blur.weights, blur.attr("shared")) == (6 * 27 + 6, 6, 0, True)
    assert blur.macs == 64 * 6 * 9


def test_every_converter_module_registers_in_the_one_registry():
    """The registry (aten_registry) sits below the converters and the walk; importing the walk's
    module (torch_graph) registers the converters of all three converter modules."""
    from hwpower.networks.importers import aten_move, aten_ops, aten_other, torch_graph
    from hwpower.networks.importers.aten_registry import CONVERTERS, aten

    assert torch_graph.CONVERTERS is CONVERTERS
    assert CONVERTERS[aten.conv2d.default] is aten_ops._conv_call
    assert CONVERTERS[aten.relu.default] is aten_other._activation
    assert CONVERTERS[aten.view.default] is aten_move._view
