"""The few-shot correction a predictor applies to its natural-log outputs, and reading it from a
run folder (``adaptation.json``). Fitting it, and writing adapted runs, live in :mod:`.adapt`; this
module is below both :mod:`.adapt` and :mod:`.predictor`, which applies a loaded correction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CheckpointError

FILE = "adaptation.json"


@dataclass
class Correction:
    """Per trained target: ``center`` c and coefficients over [1, log ŷ - c, hw_norm...]."""

    kind: str
    targets: list[str]  # the corrected (trained) targets
    reported: list[str]  # the predictor's outputs, in order
    center: dict[str, float]
    coef: dict[str, list[float]]

    def apply_log(self, logs: torch.Tensor, hw_norm: torch.Tensor | None) -> torch.Tensor:
        """(B, R) natural-log outputs (in ``reported`` order) -> corrected, differentiably."""
        cols = {t: logs[:, i] for i, t in enumerate(self.reported)}
        for t in self.targets:
            coef = torch.as_tensor(self.coef[t], dtype=logs.dtype, device=logs.device)
            dev = cols[t] - self.center[t]
            shift = coef[0] + coef[1] * dev if len(coef) > 1 else coef[0].expand_as(dev)
            if len(coef) > 2:
                shift = shift + hw_norm.to(logs.dtype) @ coef[2:]
            cols[t] = cols[t] + shift
        if "P" in cols and "P" not in self.targets and {"P_core", "P_bw"} <= set(self.targets):
            cols["P"] = torch.logaddexp(cols["P_core"], cols["P_bw"])
        if "energy_mj" in cols and "energy_mj" not in self.targets and {"P", "latency_ms"} <= set(cols):
            cols["energy_mj"] = cols["P"] + cols["latency_ms"]
        return torch.stack([cols[t] for t in self.reported], dim=1)

    def apply_frame(self, pred: pd.DataFrame, hw_norm: np.ndarray | None) -> pd.DataFrame:
        logs = torch.from_numpy(np.log(pred[self.reported].to_numpy(np.float64)))
        hw = None if hw_norm is None else torch.from_numpy(np.asarray(hw_norm, dtype=np.float64))
        out = self.apply_log(logs, hw).exp().numpy()
        return pd.DataFrame(out, columns=self.reported, index=pred.index)

    @property
    def uses_hardware(self) -> bool:
        return self.kind == "affine-hw"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "targets": self.targets, "reported": self.reported, "center": self.center,
                "coef": self.coef}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Correction:
        return cls(data["kind"], list(data["targets"]), list(data["reported"]),
                   {k: float(v) for k, v in data["center"].items()},
                   {k: [float(x) for x in v] for k, v in data["coef"].items()})


def load_correction(run_dir: str | Path) -> Correction | None:
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        return Correction.from_dict(json.loads(path.read_text(encoding="utf-8"))["correction"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt adaptation ({exc})") from None
