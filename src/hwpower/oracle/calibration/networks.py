"""The workloads of the calibration table, at the resolution and batch each chip was measured with.

Batch > 1 needs operator graphs (shapes carry the batch: weights are fetched once per batch), so the
table's networks are built with :class:`~hwpower.networks.builder.GraphBuilder`; ResNet-50 and
MobileNetV2 at batch 1 are the packaged torchvision reference networks. Eyeriss measured only the
convolution layers (its JSSC 2017 figures exclude pooling and the classifier), so those workloads
hold the convolutions alone, each reading its own input: every layer's input comes from DRAM, as
Eyeriss ran layer by layer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from ...networks import AnyNetwork, reference_networks
from ...networks.builder import GraphBuilder
from ...networks.expand import expand_network

# AlexNet's convolutions (Krizhevsky et al., NeurIPS 2012) at 227 px with the original two-group
# conv2, conv4 and conv5: (in channels, out channels, kernel, input size, stride, padding, groups).
ALEXNET_CONV = ((3, 96, 11, 227, 4, 0, 1), (96, 256, 5, 27, 1, 2, 2), (256, 384, 3, 13, 1, 1, 1),
                (384, 384, 3, 13, 1, 1, 2), (384, 256, 3, 13, 1, 1, 2))
# VGG-16's 13 convolutions (Simonyan and Zisserman, ICLR 2015) at 224 px: (in, out, input size).
VGG16_CONV = ((3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56),
              (256, 256, 56), (256, 512, 28), (512, 512, 28), (512, 512, 28), (512, 512, 14), (512, 512, 14),
              (512, 512, 14))
# MobileNet v1 (Howard et al., arXiv 1704.04861, Table 1), width 1.0, 224 px: (out channels, stride)
# of each depthwise-separable pair after the 3x3 stem of 32 channels.
MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                (512, 1), (512, 1), (1024, 2), (1024, 1))
# TPU v1's MLP0 (Jouppi et al., ISCA 2017, Table 1): 5 fully connected layers, 20 M weights, batch
# 200. The layer widths are not published: five equal 2000 x 2000 layers give the 20 M weights.
MLP0_WIDTH, MLP0_LAYERS = 2000, 5


def conv_layers(name: str, layers: list[tuple[int, int, int, int, int, int, int]], batch: int) -> AnyNetwork:
    """Convolutions only, each on its own input (batch, in, size, size)."""
    b = GraphBuilder()
    for i, (cin, cout, k, size, stride, pad, groups) in enumerate(layers):
        x = b.input((batch, cin, size, size), name=f"x{i}")
        b.conv(x, cout, k, stride=stride, padding=pad, groups=groups, norm=False, bias=True, name=f"conv{i + 1}")
    return b.build(name)


def alexnet_conv(batch: int) -> AnyNetwork:
    return conv_layers(f"alexnet-conv-b{batch}", list(ALEXNET_CONV), batch)


def vgg16_conv(batch: int) -> AnyNetwork:
    layers = [(cin, cout, 3, size, 1, 1, 1) for cin, cout, size in VGG16_CONV]
    return conv_layers(f"vgg16-conv-b{batch}", layers, batch)


def mobilenet_v1(batch: int, width: float = 1.0, size: int = 224) -> AnyNetwork:
    """The whole network: stem, 13 depthwise-separable pairs, average pool, classifier; channel
    counts times the width multiplier (Howard et al. 2017)."""
    b = GraphBuilder()
    channels = int(32 * width)
    x = b.conv(b.input((batch, 3, size, size)), channels, 3, stride=2)
    for i, (cout, stride) in enumerate(MOBILENET_V1):
        with b.scope(f"b{i}"):
            x = b.conv(b.conv(x, channels, 3, stride=stride, groups=channels), int(cout * width), 1)
        channels = int(cout * width)
    b.linear(b.flatten(b.global_pool(x)), 1000)
    return b.build(f"mobilenet-v1-{width:g}-{size}-b{batch}")


def mlp0(batch: int) -> AnyNetwork:
    b = GraphBuilder()
    x = b.input((batch, MLP0_WIDTH))
    for _ in range(MLP0_LAYERS):
        x = b.linear(x, MLP0_WIDTH, act="relu")
    return b.build(f"mlp0-b{batch}")


def _reference(name: str) -> Callable[[int], AnyNetwork]:
    def build(batch: int) -> AnyNetwork:
        if batch != 1:  # the packaged networks are batch-1 block networks
            raise ValueError(f"{name} is available at batch 1 only (got batch {batch})")
        return reference_networks()[name]
    return build


WORKLOADS: dict[str, Callable[[int], AnyNetwork]] = {
    "alexnet-conv": alexnet_conv, "vgg16-conv": vgg16_conv, "mobilenet-v1": mobilenet_v1,
    "mobilenet-v1-0.5-128": lambda batch: mobilenet_v1(batch, 0.5, 128), "mlp0": mlp0,
    "resnet50": _reference("resnet50"), "mobilenet_v2": _reference("mobilenet_v2"),
}


@lru_cache(maxsize=32)
def workload(name: str, batch: int) -> AnyNetwork:
    """The network called ``name`` in the table, at ``batch``; a ValueError names the known ones."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown network {name!r} (known: {sorted(WORKLOADS)})")
    return WORKLOADS[name](batch)


__all__ = ["WORKLOADS", "expand_network", "workload"]
