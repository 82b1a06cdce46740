"""Import networks from other frameworks by a ``SOURCE:NAME`` spec, e.g. ``torchvision:resnet50``.

Importers are loaded lazily so that reading and sampling networks never imports torch.
"""

from __future__ import annotations

import importlib

from ..errors import InputError
from .network import Network

# source -> (module, function); the function takes (name, num_classes=, resolution=).
IMPORTERS: dict[str, tuple[str, str]] = {
    "torchvision": ("hwpower.networks.torchvision_import", "import_torchvision"),
}


def import_network(spec: str, *, num_classes: int = 1000, resolution: int = 224) -> Network:
    """Import the network named by ``spec`` (``SOURCE:NAME``) at ``resolution`` px."""
    source, sep, name = spec.partition(":")
    if not sep or not name or source not in IMPORTERS:
        raise InputError(f"expected SOURCE:NAME with SOURCE one of {sorted(IMPORTERS)}, e.g. torchvision:resnet50",
                         where=spec)
    module, function = IMPORTERS[source]
    return getattr(importlib.import_module(module), function)(name, num_classes=num_classes, resolution=resolution)
