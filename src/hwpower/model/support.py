"""Where the predictor's training data lies, and a check of every predicted network against it.

:class:`NetworkSupport` is fitted on the operators of the training networks and saved as plain
numbers in the checkpoint. Before a prediction, each operator of each network is checked:

- its kind must have been seen in training (otherwise :class:`~hwpower.errors.InputError` naming the
  network and the operator: nothing was learnt about it);
- each feature must lie within the range the kind's training operators span, and each word (fn,
  act, norm) must have been seen with the kind;
- its distance to the nearest training operator of the same kind, in the space of log-scaled
  features divided by their training spread, must stay within the kind's threshold: twice the 99th
  percentile of the training operators' own nearest-neighbour distances (at least 1), a measure
  of the gaps the training data leaves.

A network that breaks any of these gets one :class:`NetworkSupportWarning`, one line: its worst
operator (index, name, kind, feature, value and trained range; a range beyond the training data
first, then an unseen word, then a distance) and how many operators and which features are outside.
The warning's ``details`` list every one (``hwpower --debug`` prints them, ``hwpower evaluate``
writes them to ``out_of_domain.json``).

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
    """A network with operators outside the training data's support: the prediction extrapolates.
    One per network; ``details`` lists every operator and feature outside (rows of
    :meth:`NetworkSupport.problems`, as dicts)."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


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
    def problems(self, ops: pd.DataFrame, names: Any = None) -> pd.DataFrame:
        """Every way the operator rows leave the support, one row per (operator, feature), worst first
        within each network: network, op_index, operator (name), kind, reason (range, word or
        distance), feature, value, trained (the range, the words seen or the distance threshold) and
        excess (how far outside, in training spreads of the log-scaled feature; 0 for a word).
        ``names(network, op_index) -> str`` gives an operator's name (blank without it)."""
        frames = [self._kind_problems(self.kinds[kind], kind, rows)
                  for kind, rows in ops.groupby(ops["kind"].astype(str), sort=True) if kind in self.kinds]
        out = pd.concat([f for f in frames if len(f)] or [pd.DataFrame(columns=PROBLEM_COLUMNS)], ignore_index=True)
        out["operator"] = [names(n, int(i)) if names else "" for n, i in zip(out["network"], out["op_index"])]
        order = out["reason"].map({r: i for i, r in enumerate(REASONS)})
        out = out.assign(_order=order).sort_values(["network", "_order", "excess", "op_index"],
                                                   ascending=[True, True, False, True], kind="stable")
        return out.drop(columns="_order").reset_index(drop=True)[PROBLEM_COLUMNS]

    def check(self, ops: pd.DataFrame, *, policy: str = "warn", source: str = "networks",
              names: Any = None) -> list[str]:
        """Check every operator row: one warning per network outside the support (its worst operator
        and feature, and how many operators and features are outside; the warning's ``details`` hold
        every one), an :class:`InputError` instead under ``policy="error"``. Returns the warnings' texts."""
        unseen = ~ops["kind"].astype(str).isin(list(self.kinds))
        if unseen.any():
            row = ops[unseen].iloc[0]
            raise InputError(f"operator kind {str(row['kind'])!r} was never seen in training (seen: "
                             f"{sorted(self.kinds)}): the predictor cannot predict this network", file=source,
                             where=f"network {row['network']}, {_op_label(int(row['op_index']), names, row['network'])}")
        if policy == "ignore":
            return []
        found = self.problems(ops, names)
        sizes = ops.groupby(ops["network"].astype(str)).size()
        texts, details = [], []
        for net, rows in found.groupby(found["network"].astype(str), sort=True):
            texts.append(summary_line(rows, int(sizes[net])))
            details.append(rows.to_dict(orient="records"))
        if texts and policy == "error":
            others = f"; {len(texts) - 1} more network(s) outside it" if len(texts) > 1 else ""
            raise InputError(texts[0] + others + " (--strict)", file=source)
        for text, records in zip(texts, details):
            warnings.warn(NetworkSupportWarning(f"{source}: {text}", records), stacklevel=3)
        return texts

    def _kind_problems(self, sup: KindSupport, kind: str, rows: pd.DataFrame) -> pd.DataFrame:
        scale = dict(zip(self.features, self.scale))
        parts = []
        for f in self.features:
            lo, hi = sup.ranges[f]
            v = rows[f].to_numpy(dtype=np.float64)
            outside = (v < lo) | (v > hi)
            if outside.any():
                bound = np.where(v > hi, hi, lo)[outside]
                excess = np.abs(np.log1p(np.maximum(v[outside], 0)) - np.log1p(np.maximum(bound, 0))) / scale[f]
                parts.append(_frame(rows[outside], kind, "range", f, v[outside], f"[{lo:g}, {hi:g}]", excess))
        for w, seen in sup.words.items():
            values = rows[w].astype(str)
            new = ((values != "") & ~values.isin(seen)).to_numpy()
            if new.any():
                parts.append(_frame(rows[new], kind, "word", w, values[new].to_numpy(), f"seen: {', '.join(seen)}",
                                    np.zeros(int(new.sum()))))
        dist = self._distances(sup, rows)
        far = dist > sup.threshold
        if far.any():
            parts.append(_frame(rows[far], kind, "distance", "distance", dist[far], f"<= {sup.threshold:.2f}",
                                dist[far] - sup.threshold))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PROBLEM_COLUMNS)

    def _distances(self, sup: KindSupport, rows: pd.DataFrame) -> np.ndarray:
        """Each row's distance to the nearest training operator of its kind, computed once per
        distinct operator (networks repeat their operators)."""
        distinct = rows[self.features].drop_duplicates()
        dist = _nn_distance(_scaled(distinct, np.asarray(self.scale)), np.asarray(sup.points))
        lookup = distinct.assign(_dist=dist)
        return rows[self.features].merge(lookup, on=self.features, how="left")["_dist"].to_numpy()


PROBLEM_COLUMNS = ["network", "op_index", "operator", "kind", "reason", "feature", "value", "trained", "excess"]
REASONS = ("range", "word", "distance")  # the order in which a network's worst problem is chosen


def _frame(rows: pd.DataFrame, kind: str, reason: str, feature: str, values: Any, trained: str,
           excess: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"network": rows["network"].astype(str).to_numpy(), "op_index": rows["op_index"].to_numpy(int),
                         "operator": "", "kind": kind, "reason": reason, "feature": feature,
                         "value": [v if isinstance(v, str) else float(v) for v in values], "trained": trained,
                         "excess": np.round(np.asarray(excess, dtype=np.float64), 4)})


def _op_label(op_index: int, names: Any = None, network: Any = None, name: str | None = None) -> str:
    if name is None:
        name = names(network, op_index) if names else ""
    return f"operator {op_index} ({name})" if name else f"operator {op_index}"


def describe(problem: dict[str, Any]) -> str:
    """One problem (a row of :meth:`NetworkSupport.problems`) as a sentence."""
    p = problem
    where = f"network {p['network']}, {_op_label(int(p['op_index']), name=p['operator'])} ({p['kind']})"
    if p["reason"] == "range":
        return (f"{where}: {p['feature']}={p['value']:g} is outside the trained range {p['trained']} "
                f"of {p['kind']} operators")
    if p["reason"] == "word":
        return f"{where}: {p['feature']}={p['value']!r} was never seen with {p['kind']} operators in training ({p['trained']})"
    return (f"{where}: distance {p['value']:.2f} to the nearest training {p['kind']} operator exceeds "
            f"{p['trained'].removeprefix('<= ')}")


def summary_line(rows: pd.DataFrame, n_ops: int) -> str:
    """One line for a network's problems (worst first): the worst named, then how many operators and
    which features are outside."""
    n_out = rows["op_index"].nunique()
    features = ", ".join(dict.fromkeys(rows["feature"]))
    return (f"{describe(rows.iloc[0].to_dict())}; {n_out} of {n_ops} operator(s) outside the training support "
            f"({features}); the prediction extrapolates")


def operator_namer(networks: pd.DataFrame):
    """``(network, op_index) -> operator name``, from the networks' definitions, computed only for
    the networks a message names."""
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
        return cache[key][i]

    return name
