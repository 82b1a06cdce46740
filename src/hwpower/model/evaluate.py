"""Evaluation (the seed's step 8): per target MAPE, RMSPE, share within +-5 % and +-10 %, Spearman
rank correlation and the worst errors, on the validation rows on unseen hardware and on the held-out
networks; plus a per-network table and every operator outside the training support. Also networks
never trained on (zoo networks) against the oracle on sampled hardware. Returns data (the command
line renders it)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .. import __version__
from ..errors import InputError
from ..io import atomic_path, write_json_atomic, write_text_atomic
from .support import NetworkSupportWarning
from .uncertainty import coverage

log = logging.getLogger(__name__)
INTERVAL = 0.9  # the interval whose coverage is reported
ZOO_FILE = "zoo.json"  # in the run folder, where the report looks for it
SPLITS = {"unseen_hardware": "validation rows on unseen hardware (networks seen in training)",
          "unseen_networks": "validation rows on held-out networks"}


def metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Relative-error metrics in percent (and Spearman's rho) of ``pred`` against ``true``."""
    rel = pred / true - 1.0
    ape = np.abs(rel)
    varied = len(true) > 1 and np.ptp(true) > 0 and np.ptp(pred) > 0  # rank correlation needs variation
    rho = float(spearmanr(true, pred).statistic) if varied else float("nan")
    return {"n": int(len(true)), "mape_pct": float(ape.mean() * 100), "rmspe_pct": float(np.sqrt((rel ** 2).mean()) * 100),
            "within_5_pct": float((ape <= 0.05).mean() * 100), "within_10_pct": float((ape <= 0.10).mean() * 100),
            "spearman": rho, "max_ape_pct": float(ape.max() * 100)}


@dataclass
class Evaluation:
    model: str
    splits: dict[str, dict[str, dict[str, float]]]  # split -> target -> metric -> value
    worst: dict[str, list[dict[str, Any]]]  # split -> worst rows of P (or the first target)
    per_network: pd.DataFrame
    out_of_domain: list[dict[str, Any]] = field(default_factory=list)  # every operator outside the support

    def to_dict(self) -> dict[str, Any]:
        return {"hwpower_version": __version__, "model": self.model, "splits": self.splits, "split_meaning": SPLITS,
                "worst": self.worst, "per_network": self.per_network.to_dict(orient="records")}


def evaluate(predictor, ds, *, n_worst: int = 10) -> Evaluation:
    """Predict every validation row of ``ds`` and score it per split and per network (networks outside
    the training data's support and implausible predictions warn, see :meth:`Predictor.predict`)."""
    level = INTERVAL if getattr(predictor, "calibration", None) is not None else None
    pred, ood = _predict_recording(predictor, ds, level)
    unseen_net = ds.unseen_network_mask().to_numpy()
    targets = [t for t in predictor.targets if t in ds.val.columns]
    main = "P" if "P" in targets else targets[0]
    splits, worst = {}, {}
    for split, mask in (("unseen_hardware", ~unseen_net), ("unseen_networks", unseen_net)):
        if not mask.any():
            continue
        splits[split] = {t: metrics(ds.val[t].to_numpy()[mask], pred[t].to_numpy()[mask]) for t in targets}
        if level is not None:  # share of true values inside the 90 % interval (.uncertainty)
            for t, cov in coverage(ds.val[mask], pred[mask], targets).items():
                splits[split][t]["coverage_90_pct"] = cov
        rows = ds.val[mask].copy()
        rows[f"{main}_pred"] = pred[main].to_numpy()[mask]
        rows["error_pct"] = (rows[f"{main}_pred"] / rows[main] - 1) * 100
        top = rows.reindex(rows["error_pct"].abs().sort_values(ascending=False).index).head(n_worst)
        worst[split] = top.to_dict(orient="records")
    frame = pd.DataFrame({"network": ds.val["network"].to_numpy(), "split": np.where(unseen_net, "unseen_networks", "unseen_hardware"),
                          "ape": np.abs(pred[main].to_numpy() / ds.val[main].to_numpy() - 1) * 100})
    per_net = (frame.groupby(["network", "split"]).agg(n=("ape", "size"), mape_pct=("ape", "mean"), max_ape_pct=("ape", "max"))
               .reset_index().merge(ds.networks[["network", "macs", "weights", "depth", "input_resolution"]], on="network", how="left")
               .sort_values("mape_pct", ascending=False, ignore_index=True))
    return Evaluation(predictor.name, splits, worst, per_net, ood)


def _predict_recording(predictor, ds, level: float | None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The validation predictions and the details of the out-of-domain warnings, which are passed
    on to the caller's warning filters as raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = predictor.predict(ds.val, ds, out_of_range="warn", source="val.parquet", interval=level)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return pred, [d for w in caught if isinstance(w.message, NetworkSupportWarning) for d in w.message.details]


# --- networks never trained on (zoo) ---------------------------------------------------------------
def oracle_rows(nets: dict[str, Any], n_hw: int, seed: int = 0) -> pd.DataFrame:
    """Every network on the same ``n_hw`` configurations of the default hardware space: the hardware
    columns, ``network`` and the oracle's outputs (default settings, as ``hwpower generate``)."""
    from ..oracle import HardwareSpace, Oracle

    hw = HardwareSpace.default().sample(n_hw, seed).reset_index(drop=True)
    oracle = Oracle()
    return pd.concat([pd.concat([hw.assign(network=name), oracle.evaluate(net, hw).reset_index(drop=True)], axis=1)
                      for name, net in nets.items()], ignore_index=True)


def evaluate_networks(predictor, nets: dict[str, Any], rows: pd.DataFrame, target: str = "P") -> pd.DataFrame:
    """Per network of ``rows`` (:func:`oracle_rows`): n, MAPE, share within ±10 % and worst error of
    ``target`` (%), and what the out-of-domain guard said: ``out_of_domain`` (its one line, or blank)
    and ``ops_outside`` (operators outside the training support). A network with an operator kind
    never trained on gets no prediction: NaN metrics, and the reason in ``out_of_domain``."""
    out = []
    for name, group in rows.groupby("network", sort=False):
        entry: dict[str, Any] = {"network": str(name), "n": len(group)}
        samples = group[[*predictor.hw_encoder.columns, "network"]].reset_index(drop=True)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pred = predictor.predict(samples, {name: nets[name]}, out_of_range="warn", source="zoo")
        except InputError as exc:  # an unseen operator kind: nothing was learnt about it
            out.append({**entry, "mape_pct": np.nan, "within_10_pct": np.nan, "max_ape_pct": np.nan,
                        "out_of_domain": str(exc), "ops_outside": -1})
            continue
        said = [w.message for w in caught if isinstance(w.message, NetworkSupportWarning)]
        for w in caught:  # the others (implausible predictions) pass on as raised
            if not isinstance(w.message, NetworkSupportWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        ape = np.abs(pred[target].to_numpy() / group[target].to_numpy() - 1) * 100
        out.append({**entry, "mape_pct": float(ape.mean()), "within_10_pct": float((ape <= 10).mean() * 100),
                    "max_ape_pct": float(ape.max()), "out_of_domain": str(said[0]) if said else "",
                    "ops_outside": len({d["op_index"] for d in said[0].details}) if said else 0})
    return pd.DataFrame(out)


def write_zoo_evaluation(run_dir: str | Path, zoo: pd.DataFrame, **meta: Any) -> Path:
    """``RUN/zoo.json``: :func:`evaluate_networks`'s table (records; NaN as null) and how it was made."""
    path = Path(run_dir) / ZOO_FILE
    clean = zoo.astype(object).where(zoo.notna(), None)
    write_json_atomic(path, {"hwpower_version": __version__, **meta, "networks": clean.to_dict(orient="records")})
    return path


def evaluation_frame(ev: Evaluation) -> pd.DataFrame:
    """One row per (split, target): n, MAPE, RMSPE, shares within 5 / 10 %, Spearman, max error and,
    for a calibrated run, the 90 % interval's coverage (all in %)."""
    rows = [{"split": split.removeprefix("unseen_"), "target": t, **m}
            for split, per_target in ev.splits.items() for t, m in per_target.items()]
    return pd.DataFrame(rows)


def evaluation_paths(out_dir: str | Path) -> dict[str, Path]:
    """The files :func:`write_evaluation` writes (the command line checks them before evaluating)."""
    out_dir = Path(out_dir)
    return {"json": out_dir / "evaluation.json", "txt": out_dir / "evaluation.txt",
            "per_network": out_dir / "per_network.parquet", "out_of_domain": out_dir / "out_of_domain.json"}


def write_evaluation(ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """evaluation.json, evaluation.txt (readable tables), per_network.parquet and out_of_domain.json
    (every operator and feature outside the training support, one record each) in ``out_dir``."""
    paths = evaluation_paths(out_dir)
    write_json_atomic(paths["json"], ev.to_dict())
    main = "P" if "P" in next(iter(ev.splits.values()), {}) else "first target"
    text = (f"Evaluation of the {ev.model} model (errors in %)\n{evaluation_frame(ev).to_string(index=False)}\n\n"
            f"Worst networks ({main}):\n{ev.per_network.head(15).to_string(index=False)}\n")
    write_text_atomic(paths["txt"], text)
    with atomic_path(paths["per_network"]) as tmp:
        ev.per_network.to_parquet(tmp)
    write_json_atomic(paths["out_of_domain"], {"hwpower_version": __version__, "model": ev.model,
                                               "operators": ev.out_of_domain})
    return paths
