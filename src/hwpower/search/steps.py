"""The steps every search shares, in the order data flows through them: the batched descent
problem (:func:`search_problem`), the candidates' hardware (:func:`candidate_hardware`), the
surrogate's scores (:func:`predict_outputs`), the truth's verification (:func:`oracle_outputs`)
and the result's metadata (:func:`search_meta`). Used by :mod:`.tasks` (recover, design) and
:mod:`.identify`; imports neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .context import SearchContext
from .descent import Problem, evaluate
from .surrogate import SearchSurrogate


def search_problem(ctx: SearchContext, sur: SearchSurrogate, net_index: torch.Tensor, fixed: dict, loss, seed: int) -> Problem:
    """The same starts for every group (row of ``net_index`` (G, M))."""
    norm, combo, lo, hi = ctx.start_points(sur, fixed, seed)
    G, S = net_index.shape[0], len(combo)
    return Problem(
        start_norm=norm.repeat(G, 1), combo=combo.repeat(G),
        net_index=net_index.repeat_interleave(S, dim=0),
        idx_lo=torch.as_tensor(lo).repeat(G * S, 1), idx_hi=torch.as_tensor(hi).repeat(G * S, 1),
        loss=loss, group=torch.arange(G).repeat_interleave(S),
    )


def predict_outputs(sur: SearchSurrogate, hw: pd.DataFrame, net_index: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Predicted outputs (physical units) of hardware rows on ``nets[net_index]``; (N, M) -> long."""
    index, combo = sur.frame_to_state(hw)
    with torch.no_grad():
        out = evaluate(sur, sur.index_to_norm(index), combo, torch.as_tensor(net_index).reshape(len(hw), -1))
    return pd.DataFrame({n: out[n].exp().reshape(-1).numpy().astype(float) for n in names})


def oracle_outputs(ctx: SearchContext, nets: Sequence[Any], net_index: np.ndarray, hw: pd.DataFrame) -> pd.DataFrame:
    """The truth's (oracle's) outputs of hardware rows on ``nets[net_index]``: the verification."""
    if ctx.oracle is None:
        raise InputError("verification needs an oracle, and none was given")
    return ctx.oracle.evaluate_many(list(nets), np.asarray(net_index), hw.reset_index(drop=True)).reset_index(drop=True)


def candidate_hardware(frame: pd.DataFrame, sur: SearchSurrogate) -> pd.DataFrame:
    """The hardware columns of candidate rows, in the search space's order."""
    return frame[list(sur.view.order)].reset_index(drop=True)


def search_meta(ctx: SearchContext, prob: Problem, elapsed: float, **extra: Any) -> dict[str, Any]:
    """What every search result records about how it searched (``SearchResult.meta``)."""
    return {
        "search_time_s": round(elapsed, 4),
        "n_starts": int(len(prob.combo)),
        "k_means_k": ctx.starts.k,
        "k_choice": ctx.starts.choice.to_dict() if ctx.starts.choice else None,
        "n_random_starts": ctx.n_random,
        "steps": ctx.config.steps,
        "domain": "training-data bounds; ood_score = nearest-training-point distance / its 99th percentile among training points",
        **extra,
    }
