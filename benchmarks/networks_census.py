"""Census of the operator-level PyTorch importer over every torchvision model (used by networks.py).

For each model of ``torchvision.models.list_models()``: import it as ``torchvision:NAME`` (time it),
compare its MACs with the published ``weights.meta["_ops"]`` (GMACs, rounded to 3 decimals, so a
model is "within 1 %" when within 1 % or within that rounding), and its weights with
``sum(p.numel())`` of the same model built without weights (and with the published
``num_params``). Failures are kept with their one-line reason.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

QUICK_MODELS = ("resnet50", "mobilenet_v3_large", "vit_b_16", "efficientnet_b3", "fcn_resnet50", "r3d_18")
FAMILIES = ("classification", "segmentation", "detection", "video", "optical_flow", "quantized")


def census_one(name: str) -> dict[str, Any]:
    from hwpower.errors import InputError
    from hwpower.networks.importers import ImportOptions
    from hwpower.networks.importers.torchvision import (build_any_device, family_of, import_torchvision,
                                                        published_counts)

    row: dict[str, Any] = {"name": name, "family": family_of(name)}
    start = time.perf_counter()
    try:
        net = import_torchvision(name, ImportOptions())
    except InputError as exc:
        row.update(ok=False, reason=str(exc).splitlines()[0], seconds=time.perf_counter() - start)
        return row
    except Exception as exc:  # noqa: BLE001 - a census records every failure and goes on
        row.update(ok=False, reason=f"crash: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                   seconds=time.perf_counter() - start)
        return row
    seconds = time.perf_counter() - start
    macs, params = published_counts(name)
    side = net.input_shape[-1] if row["family"] in ("classification", "quantized") else None  # ViT-H/14: 518
    model_params = sum(p.numel() for p in build_any_device(name, None, side).parameters())
    c = net.counts
    err = (c.macs - macs) / macs
    oracle_ok, p_median = _oracle_check(net)
    row.update(ok=True, seconds=seconds, input=list(net.input_shape), ops=len(net.ops), gmacs=c.macs / 1e9,
               published_gmacs=macs / 1e9, mac_error=err,
               within_1pct=abs(err) <= 0.01 or abs(c.macs - macs) <= 0.0005e9,
               weights=c.weights, model_params=model_params, published_params=params,
               weights_exact=c.weights == model_params, oracle_ok=oracle_ok, oracle_p_median_w=p_median)
    return row


def _oracle_check(net: Any) -> tuple[bool, float]:
    """The oracle evaluates the imported graph on 16 configurations of the default space: every
    output finite and positive (issue 11: the oracle evaluates every imported network)."""
    import numpy as np

    from hwpower.oracle import HardwareSpace, Oracle

    out = Oracle().evaluate(net, HardwareSpace.default().sample(16, seed=0)).to_numpy()
    return bool(np.isfinite(out).all() and (out > 0).all()), float(np.median(out[:, 2]))


def run_census(names: list[str], progress: bool = False) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        rows.append(census_one(name))
        if progress:
            r = rows[-1]
            status = f"{r['mac_error']:+.3%} {r['seconds']:.1f}s" if r["ok"] else r["reason"]
            print(f"  {r['family']:>14} {name}: {status}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for family in FAMILIES:
        fam = [r for r in rows if r["family"] == family]
        if not fam:
            continue
        ok = [r for r in fam if r["ok"]]
        errs = [abs(r["mac_error"]) for r in ok]
        out[family] = {
            "imported": len(ok), "total": len(fam),
            "mac_within_1pct": sum(r["within_1pct"] for r in ok),
            "mac_error_median_pct": round(100 * statistics.median(errs), 3) if errs else None,
            "mac_error_worst_pct": round(100 * max(errs), 3) if errs else None,
            "weights_exact": sum(r["weights_exact"] for r in ok),
            "oracle_evaluated": sum(r["oracle_ok"] for r in ok),
            "weights_published": sum(r["weights"] == r["published_params"] for r in ok),
            "import_s_median": round(statistics.median(r["seconds"] for r in ok), 2) if ok else None,
            "import_s_max": round(max(r["seconds"] for r in ok), 2) if ok else None,
        }
    return out


def markdown(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = ["| family | imported | MACs within 1 % | median / worst MAC error | weights exact "
             "(= published) | import s (median / max) |", "|---|---|---|---|---|---|"]
    for family, s in summary.items():
        lines.append(f"| {family} | {s['imported']}/{s['total']} | {s['mac_within_1pct']} | "
                     f"{s['mac_error_median_pct']} % / {s['mac_error_worst_pct']} % | "
                     f"{s['weights_exact']} ({s['weights_published']}) | "
                     f"{s['import_s_median']} / {s['import_s_max']} |")
    off = [r for r in rows if r["ok"] and not r["within_1pct"]]
    if off:
        lines += ["", "Models outside 1 % of the published MACs:", ""]
        lines += [f"- {r['name']}: {r['gmacs']:.3f} vs {r['published_gmacs']:.3f} GMACs ({r['mac_error']:+.1%}), "
                  f"input {r['input']}" for r in off]
    failed = [r for r in rows if not r["ok"]]
    if failed:
        lines += ["", "Models that did not import:", ""] + [f"- {r['name']}: {r['reason']}" for r in failed]
    return "\n".join(lines)


def bert_base_seconds() -> float | None:
    """Import time of BERT-base (transformers, random init on "meta", 128 tokens), if installed."""
    try:
        import torch
        from transformers import BertConfig, BertModel
    except ImportError:
        return None
    from hwpower.networks.importers.torch_graph import graph_from_module

    start = time.perf_counter()
    with torch.device("meta"):
        model = BertModel(BertConfig())
    ids = torch.zeros(1, 128, dtype=torch.long, device="meta")
    net = graph_from_module(model, (ids,), name="bert-base")
    assert net.counts.weights == sum(p.numel() for p in model.parameters())
    return time.perf_counter() - start
