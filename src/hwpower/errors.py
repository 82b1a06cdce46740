"""Errors that carry where the problem is: file, line or item, and what is wrong."""

from __future__ import annotations


class HwpowerError(Exception):
    """Base class for every error hwpower raises on purpose."""


class InputError(HwpowerError, ValueError):
    """Bad user input: names the file, the line or item, and the problem."""

    def __init__(self, problem: str, *, file: str | None = None, where: str | None = None):
        self.problem = problem
        self.file = file
        self.where = where
        parts = [p for p in (file, where) if p]
        super().__init__(f"{': '.join(parts)}: {problem}" if parts else problem)


class CheckpointError(HwpowerError):
    """A checkpoint that cannot be loaded safely (missing, corrupt or incompatible)."""


class OutputError(HwpowerError):
    """An output path hwpower will not write: it would replace something hwpower did not write there,
    overlap an input, or the place cannot be written (permission, a file where a folder is needed)."""
