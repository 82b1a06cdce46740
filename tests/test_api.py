"""The top-level API: every advertised name resolves, and ``import hwpower`` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hwpower


def test_import_hwpower_loads_neither_torch_nor_pandas():
    code = "import sys, hwpower; print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", [n for n in hwpower.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    assert getattr(hwpower, name) is not None
    assert name in dir(hwpower)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Oracel'"):
        hwpower.Oracel  # noqa: B018
