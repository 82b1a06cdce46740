"""Import networks from other frameworks by a ``SOURCE:NAME`` spec, e.g. ``torchvision:resnet50``.

Each source is registered in :data:`IMPORTERS` as ``prefix -> (module, function)``; the module is
loaded lazily so that reading and sampling networks never imports torch. An importer function is
called as ``fn(name, options)`` with the part after the first colon and an :class:`ImportOptions`,
and returns a network (graph or block form).

Sources:

- ``torchvision:NAME``: any model of ``torchvision.models.list_models()`` as an operator graph, at
  the resolution of its published weights (see :mod:`.torchvision`).
- ``torchvision-blocks:NAME``: the classification models made of known blocks, as a block network
  (the packaged reference networks use it).
- ``module:package.module:factory``: any ``nn.Module`` a Python factory returns, e.g.
  ``module:timm:create_model?model_name=resnet50`` (see :mod:`.module`); needs ``input_shape``
  unless the factory's module sets a default.
- ``onnx:PATH``: an ONNX file (see :mod:`.onnx`); ``input_shape`` fixes symbolic dimensions.
- ``hf:NAME`` or ``hf:config.json``: a Hugging Face transformers model built from a known or local
  config, no weights (see :mod:`.hf`); ``resolution`` is the sequence length.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ...errors import InputError
from ..jsonio import AnyNetwork

# source prefix -> (module, function); the function takes (name, options: ImportOptions).
IMPORTERS: dict[str, tuple[str, str]] = {
    "torchvision": ("hwpower.networks.importers.torchvision", "import_torchvision"),
    "torchvision-blocks": ("hwpower.networks.importers.torchvision", "import_torchvision_blocks"),
    "module": ("hwpower.networks.importers.module", "import_factory"),
    "onnx": ("hwpower.networks.importers.onnx", "import_onnx"),
    "hf": ("hwpower.networks.importers.hf", "import_hf"),
}


@dataclass(frozen=True)
class ImportOptions:
    """What the caller may fix about the imported network; ``None`` lets the importer choose.

    ``input_shape`` is the full shape of the (first) input including the batch; ``resolution``
    the image side (or sequence length) and ``batch`` the batch size when the shape is the
    importer's choice.
    """

    num_classes: int | None = None
    resolution: int | None = None
    batch: int = 1
    input_shape: tuple[int, ...] | None = None


def import_network(spec: str, options: ImportOptions | None = None, **kwargs: object) -> AnyNetwork:
    """Import the network named by ``spec`` (``SOURCE:NAME``); options as an
    :class:`ImportOptions` or as its fields by keyword (``resolution=300``)."""
    source, sep, name = spec.partition(":")
    if not sep or not name or source not in IMPORTERS:
        raise InputError(f"expected SOURCE:NAME with SOURCE one of {sorted(IMPORTERS)}, e.g. torchvision:resnet50",
                         where=spec)
    if options is None:
        options = ImportOptions(**kwargs)  # type: ignore[arg-type]
    elif kwargs:
        raise TypeError("pass options either as ImportOptions or as keywords, not both")
    module, function = IMPORTERS[source]
    return getattr(importlib.import_module(module), function)(name, options)
