"""Reference networks imported from torchvision, shipped as package data (no torch needed to read).

The packaged file ``data/reference.json`` is written by::

    hwpower nets import torchvision-blocks:resnet18 torchvision-blocks:resnet50 torchvision-blocks:mobilenet_v2 \\
        torchvision-blocks:mobilenet_v3_large torchvision-blocks:efficientnet_b0 --resolution 224 \\
        --out src/hwpower/networks/data/reference.json

(ids 0-4 in that order, each network's ``name`` the torchvision model name, 224 px, 1000 classes).
A test checks that the packaged file equals a fresh import.
"""

from __future__ import annotations

from importlib import resources

from .jsonio import parse_networks
from .network import Network

REFERENCE_MODELS: tuple[str, ...] = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")
REFERENCE_FILE = "data/reference.json"


def reference_networks() -> dict[str, Network]:
    """The packaged reference networks by name, e.g. ``reference_networks()["resnet50"]``."""
    source = resources.files(__package__).joinpath(REFERENCE_FILE)
    nets = parse_networks(source.read_text(encoding="utf-8"), file=str(source))
    return {net.name or str(net_id): net for net_id, net in sorted(nets.items())}
