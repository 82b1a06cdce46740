"""Checkpoint folders: weights in safetensors, everything else plain JSON, training state loaded
with ``torch.load(weights_only=True)`` (no arbitrary pickle). Written atomically as a whole folder.

A checkpoint folder holds ``model.safetensors``, ``meta.json`` (format, package version, config,
encoders, feature schema, epoch) and, for the last checkpoint, ``train_state.pt`` (optimizer,
scheduler, RNG and early-stopping state for ``--resume``).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import CheckpointError
from ..io import atomic_dir

FORMAT = 2  # bump when the layout or meaning of a checkpoint changes; older ones are refused
# 2: operator elements, block fields without -1, the training data's support (issue 12)


def save_checkpoint(folder: str | os.PathLike[str], weights: dict[str, torch.Tensor], meta: dict[str, Any],
                    train_state: dict[str, Any] | None = None, extra_files: dict[str, str] | None = None) -> None:
    meta = {"format": FORMAT, "hwpower_version": __version__, **meta}
    with atomic_dir(folder, command="checkpoint") as tmp:
        if weights:
            save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        if train_state is not None:
            buf = io.BytesIO()
            torch.save(train_state, buf)
            (tmp / "train_state.pt").write_bytes(buf.getvalue())


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / "meta.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: no checkpoint here (meta.json missing)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{folder}: checkpoint format {meta.get('format')!r} written by hwpower {meta.get('hwpower_version', '?')} "
            f"is incompatible with this hwpower {__version__} (format {FORMAT}); retrain the model"
        )
    return meta


def load_weights(folder: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing weights")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt weights ({exc})") from None


def load_train_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / "train_state.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing training state; cannot resume")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (RuntimeError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: corrupt training state ({exc})") from None
