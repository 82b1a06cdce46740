"""The frozen predictor as the search sees it: a differentiable map from hardware parameters in the
predictor's normalized space (plus fixed network encodings) to log outputs in physical units.

The search needs only :class:`DifferentiablePredictor` (a Protocol): tests use a tiny torch
stand-in, the CLI the trained :class:`hwpower.model.Predictor`. :class:`SearchSurrogate` probes the
predictor's hardware encoder once to learn where each numeric parameter lives in the normalized
vector and how every grid value and categorical combination encodes, so the descent can move the
numeric columns inside their data bounds and snap them to the grid without decoding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .gridview import GridView


@runtime_checkable
class DifferentiablePredictor(Protocol):
    """What the search needs from a trained predictor.

    ``targets``: names of the outputs of :meth:`forward_normalized`, in order.
    ``hw_encoder.encode(df) -> Tensor (N, H)``: hardware frame to the model's normalized inputs.
    ``forward_normalized`` returns the natural log of each target in physical units (W, ms, mJ).
    """

    targets: Sequence[str]
    hw_encoder: Any

    def encode_networks(self, nets: Sequence[Any]) -> Any: ...

    def forward_normalized(self, hw_norm: torch.Tensor, nets: Any, net_index: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Layout:
    """Where the numeric parameters sit in the normalized vector, and encoded grid and combos."""

    num_cols: torch.Tensor  # (Nn,) long: column of each numeric parameter
    grid_norm: list[torch.Tensor]  # per numeric parameter: normalized value of each grid point
    combo_vec: torch.Tensor  # (C, H): normalized vector of each categorical combination (numeric at base)
    combos: list[dict[str, Any]]


def probe_layout(encoder: Any, view: GridView) -> Layout:
    """Encode a base configuration and single-parameter changes to locate each numeric column."""
    base = {n: g[len(g) // 2] for n, g in zip(view.numeric, view.grids)}
    combos = view.combos()
    base.update(combos[0])
    base_vec = _encode(encoder, pd.DataFrame([base], columns=list(view.order)))[0]
    num_cols, grid_norm = [], []
    for name, grid in zip(view.numeric, view.grids):
        rows = pd.DataFrame([base] * len(grid), columns=list(view.order))
        rows[name] = grid.astype(np.int64) if np.all(grid == np.round(grid)) else grid
        enc = _encode(encoder, rows)
        changed = np.flatnonzero(np.any(np.abs(enc - base_vec[None]) > 1e-9, axis=0))
        if len(changed) != 1:
            raise InputError(f"the predictor's hardware encoder maps {name} to columns {changed.tolist()}; "
                             "the search needs exactly one normalized column per numeric parameter")
        col = int(changed[0])
        if np.any(np.diff(enc[:, col]) <= 0):
            raise InputError(f"the predictor's encoding of {name} is not increasing over its grid")
        num_cols.append(col)
        grid_norm.append(torch.tensor(enc[:, col], dtype=torch.float32))
    combo_rows = pd.DataFrame([{**base, **c} for c in combos], columns=list(view.order))
    combo_vec = torch.tensor(_encode(encoder, combo_rows), dtype=torch.float32)
    return Layout(torch.tensor(num_cols), grid_norm, combo_vec, combos)


def _encode(encoder: Any, df: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():  # probing visits every grid value, trained range or not
        warnings.simplefilter("ignore")
        out = encoder.encode(df)
    return (out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)).astype(np.float64)


class SearchSurrogate:
    """A frozen predictor bound to a fixed list of networks, evaluated in physical log outputs."""

    def __init__(self, predictor: DifferentiablePredictor, space: Any, nets: Sequence[Any], layout: Layout | None = None):
        self.predictor = predictor
        self.view = GridView.from_space(space)
        self.layout = layout if layout is not None else probe_layout(predictor.hw_encoder, self.view)
        self.targets = list(predictor.targets)
        self.nets = list(nets)
        with torch.no_grad():
            self.net_batch = predictor.encode_networks(self.nets)  # encoded once, reused every step
        for module in _modules(predictor):
            module.requires_grad_(False)
            module.eval()

    @property
    def outputs(self) -> list[str]:
        """Outputs available: the targets, plus those that follow from them (P, energy_mj)."""
        have = set(self.targets)
        if "P" not in have and {"P_core", "P_bw"} <= have:
            have.add("P")
        if "energy_mj" not in have and {"P", "latency_ms"} <= have:
            have.add("energy_mj")
        return self.targets + sorted(have - set(self.targets))

    def assemble(self, num_norm: torch.Tensor, combo: torch.Tensor) -> torch.Tensor:
        """(S, Nn) numeric normalized values and (S,) combination ids to (S, H) model inputs."""
        base = self.layout.combo_vec[combo]
        return base.index_copy(1, self.layout.num_cols, num_norm.to(base.dtype))

    def log_outputs(self, hw_norm: torch.Tensor, net_index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Natural log of every output, (N,) each, for rows ``hw_norm`` (N, H) on ``nets[net_index]``."""
        raw = self.predictor.forward_normalized(hw_norm, self.net_batch, net_index)
        out = {name: raw[:, i] for i, name in enumerate(self.targets)}
        if "P" not in out and "P_core" in out and "P_bw" in out:
            out["P"] = torch.logaddexp(out["P_core"], out["P_bw"])  # P = P_core + P_bw, in log space
        if "energy_mj" not in out and "P" in out and "latency_ms" in out:
            out["energy_mj"] = out["P"] + out["latency_ms"]  # W x ms = mJ
        return out

    def require(self, names: Sequence[str], what: str) -> None:
        missing = [n for n in names if n not in self.outputs]
        if missing:
            raise InputError(f"{what} needs output(s) {missing}, but this predictor predicts only {self.outputs}")

    def index_to_norm(self, index: torch.Tensor) -> torch.Tensor:
        """(S, Nn) grid indices to normalized numeric values."""
        return torch.stack([g[index[:, j]] for j, g in enumerate(self.layout.grid_norm)], dim=1)

    def norm_to_index(self, num_norm: torch.Tensor) -> torch.Tensor:
        """Snap (S, Nn) normalized numeric values to the nearest grid index (in normalized space)."""
        cols = []
        for j, g in enumerate(self.layout.grid_norm):
            cols.append(torch.argmin((num_norm[:, j : j + 1] - g[None]).abs(), dim=1))
        return torch.stack(cols, dim=1)

    def frame_to_state(self, df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Hardware frame to (grid index (S, Nn), combination id (S,))."""
        index = torch.as_tensor(self.view.grid_index(df))
        keys = [tuple(c.values()) for c in self.layout.combos]
        names = list(self.view.categorical)
        combo = []
        for i, row in enumerate(df[names].itertuples(index=False)):
            key = tuple(_match(v, allowed) for v, allowed in zip(row, self.view.categorical.values()))
            if key not in keys:
                raise InputError(f"categorical values {dict(zip(names, row))} not in the space", where=f"row {i}")
            combo.append(keys.index(key))
        return index, torch.tensor(combo, dtype=torch.long)

    def state_to_frame(self, index: np.ndarray, combo: np.ndarray) -> pd.DataFrame:
        """Grid indices and combination ids to a hardware frame in the space's column order."""
        cats = pd.DataFrame([self.layout.combos[int(c)] for c in combo], columns=list(self.view.categorical))
        return self.view.frame(self.view.from_index(np.asarray(index)), cats)


def _match(value: Any, allowed: tuple) -> Any:
    for a in allowed:
        if a == value or str(a) == str(value):
            return a
    return value


def _modules(predictor: Any) -> list[torch.nn.Module]:
    if isinstance(predictor, torch.nn.Module):
        return [predictor]
    found = getattr(predictor, "modules_for_search", None)
    if callable(found):
        return list(found())
    return [v for v in vars(predictor).values() if isinstance(v, torch.nn.Module)]


def logit(p: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    p = p.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


LOG2 = math.log(2.0)
