"""Where the predictor's training data lies, and a check of every predicted network against it.

:class:`NetworkSupport` is fitted on the operators of the training networks and saved as plain
numbers in the checkpoint. Before a prediction, each operator of each network is checked:

- its kind must have been seen in training (otherwise :class:`~hwpower.errors.InputError` naming the
  network and the operator: nothing was learnt about it);
- each feature must lie within the range the kind's training operators span, and each word (fn,
  act, norm) must have been seen with the kind (otherwise a :class:`NetworkSupportWarning` naming
  the operator, the feature, the value and the trained range);
- its distance to the nearest training operator of the same kind, in the space of log-scaled
  features divided by their training spread, must stay within the kind's threshold: twice the 99th
  percentile of the training operators' own nearest-neighbour distances (at least 1), a measure
  of the gaps the training data leaves (otherwise a warning with the distance and the threshold).

``policy``: ``"warn"``, ``"error"`` (warnings become :class:`InputError`, the CLI's ``--strict``) or
``"ignore"`` (range and distance not checked; an unseen kind is still an error).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..processing.opfeatures import OP_FEATURES, OP_WORD_ATTRS
from .encoding import OutOfRangeWarning

MAX_POINTS = 2000  # distinct training operators kept per kind for the distance (a seeded subsample beyond)
QUANTILE = 0.99
FACTOR = 2.0
MIN_THRESHOLD = 1.0


class NetworkSupportWarning(OutOfRangeWarning):
    """An operator outside the training data's support: the prediction extrapolates."""


@dataclass
class KindSupport:
    count: int  # training operator occurrences of this kind
    ranges: dict[str, list[float]]  # feature -> [min, max] over the training operators
    words: dict[str, list[str]]  # word -> values seen
    points: list[list[float]]  # distinct training operators, scaled features
    threshold: float


def _scaled(frame: pd.DataFrame, scale: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(frame[OP_FEATURES].to_numpy(dtype=np.float64), 0.0)) / scale


def _nn_distance(query: np.ndarray, points: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Euclidean distance of each query row to its nearest row of ``points`` (chunked)."""
    out = np.empty(len(query))
    step = 64
    for i in range(0, len(query), step):
        d = ((query[i:i + step, None, :] - points[None, :, :]) ** 2).sum(-1)
        if exclude_self:
            d[d == 0] = np.inf  # distinct points: a zero distance is the point itself
        out[i:i + step] = np.sqrt(d.min(axis=1))
    return out


@dataclass
class NetworkSupport:
    features: list[str]
    scale: list[float]  # spread of each log1p feature over all training operators
    kinds: dict[str, KindSupport]

    @classmethod
    def fit(cls, ops: pd.DataFrame, seed: int = 0) -> NetworkSupport:
        """``ops``: the operator rows of the training networks (:func:`~hwpower.processing.opfeatures.ops_table`)."""
        logs = np.log1p(np.maximum(ops[OP_FEATURES].to_numpy(dtype=np.float64), 0.0))
        scale = np.maximum(logs.std(axis=0), 0.1)
        rng = np.random.default_rng(seed)
        kinds = {}
        for kind, rows in ops.groupby("kind", observed=True, sort=True):
            values = rows[OP_FEATURES].to_numpy(dtype=np.float64)
            points = np.unique(_scaled(rows, scale), axis=0)
            if len(points) > MAX_POINTS:
                points = points[np.sort(rng.choice(len(points), MAX_POINTS, replace=False))]
            gaps = _nn_distance(points, points, exclude_self=True) if len(points) > 1 else np.array([np.inf])
            finite = gaps[np.isfinite(gaps)]
            threshold = max(FACTOR * float(np.quantile(finite, QUANTILE)) if len(finite) else 0.0, MIN_THRESHOLD)
            kinds[str(kind)] = KindSupport(
                len(rows), {f: [float(values[:, j].min()), float(values[:, j].max())] for j, f in enumerate(OP_FEATURES)},
                {w: sorted(v for v in rows[w].astype(str).unique() if v) for w in OP_WORD_ATTRS if w in rows},
                points.round(6).tolist(), threshold)
        return cls(list(OP_FEATURES), scale.tolist(), kinds)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "scale": self.scale, "kinds": {k: asdict(v) for k, v in self.kinds.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSupport:
        return cls(list(d["features"]), list(d["scale"]), {k: KindSupport(**v) for k, v in d["kinds"].items()})

    # --- checking ------------------------------------------------------------------------------
    def check(self, ops: pd.DataFrame, *, policy: str = "warn", source: str = "networks",
              names: Any = None) -> list[str]:
        """Check every operator row; returns the warnings' texts (also warned or raised by ``policy``).
        ``names(network, op_index) -> str`` gives an operator's name for the messages."""
        name_of = names or (lambda net, i: f"operator {i}")
        unseen = ~ops["kind"].astype(str).isin(list(self.kinds))
        if unseen.any():
            row = ops[unseen].iloc[0]
            raise InputError(f"operator kind {str(row['kind'])!r} was never seen in training (seen: "
                             f"{sorted(self.kinds)}): the predictor cannot predict this network", file=source,
                             where=f"network {row['network']}, {name_of(row['network'], int(row['op_index']))}")
        if policy == "ignore":
            return []
        problems: list[str] = []
        for kind, rows in ops.groupby(ops["kind"].astype(str), sort=True):
            problems += self._check_kind(self.kinds[kind], kind, rows, name_of)
        if problems and policy == "error":
            raise InputError("; ".join(problems) + " (--strict)", file=source)
        for text in problems:
            warnings.warn(f"{source}: {text}", NetworkSupportWarning, stacklevel=3)
        return problems

    def _check_kind(self, sup: KindSupport, kind: str, rows: pd.DataFrame, name_of) -> list[str]:
        out = []
        for f in self.features:
            lo, hi = sup.ranges[f]
            v = rows[f].to_numpy(dtype=np.float64)
            outside = (v < lo) | (v > hi)
            if outside.any():
                j = int(np.argmax(np.where(outside, np.maximum(v / max(hi, 1e-12), max(lo, 1e-12) / np.maximum(v, 1e-12)), 0)))
                r = rows.iloc[j]
                out.append(f"network {r['network']}, {name_of(r['network'], int(r['op_index']))} ({kind}): "
                           f"{f}={v[j]:g} is outside the trained range [{lo:g}, {hi:g}] of {kind} operators "
                           f"({int(outside.sum())} operator(s)); the prediction extrapolates")
        for w, seen in sup.words.items():
            values = rows[w].astype(str)
            new = (values != "") & ~values.isin(seen)
            if new.any():
                r = rows[new.to_numpy()].iloc[0]
                out.append(f"network {r['network']}, {name_of(r['network'], int(r['op_index']))} ({kind}): "
                           f"{w}={r[w]!r} was never seen with {kind} operators in training (seen: {seen})")
        distinct = rows.drop_duplicates(subset=self.features)
        dist = _nn_distance(_scaled(distinct, np.asarray(self.scale)), np.asarray(sup.points))
        far = dist > sup.threshold
        if far.any():
            j = int(np.argmax(dist))
            r = distinct.iloc[j]
            out.append(f"network {r['network']}, {name_of(r['network'], int(r['op_index']))} ({kind}): "
                       f"distance {dist[j]:.2f} to the nearest training {kind} operator exceeds {sup.threshold:.2f} "
                       f"({int(far.sum())} distinct operator(s) this far); the prediction extrapolates")
        return out


def operator_namer(networks: pd.DataFrame):
    """``(network, op_index) -> "operator i (name)"``, from the networks' definitions, computed only
    for the operators a message names."""
    import json

    from ..networks.expand import expand_network
    from ..networks.jsonio import network_from_dict
    from ..networks.graph import GraphNetwork

    definitions = dict(zip(networks["network"].astype(str), networks["definition"]))
    cache: dict[str, list[str]] = {}

    def name(net: Any, i: int) -> str:
        key = str(net)
        if key not in cache:
            parsed = network_from_dict(json.loads(definitions[key]))
            graph = parsed if isinstance(parsed, GraphNetwork) else expand_network(parsed)
            cache[key] = [op.name for op in graph.ops]
        return f"operator {i} ({cache[key][i]})"

    return name
