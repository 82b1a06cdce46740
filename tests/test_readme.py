"""The README's Python API example runs as written."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example(monkeypatch):
    monkeypatch.chdir(ROOT)  # the example reads the embedded data by its relative path
    result = doctest.testfile(os.fspath(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0
