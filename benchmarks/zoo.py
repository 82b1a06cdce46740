"""Zoo networks for evaluation only (never trained on): import, truth from the oracle, scoring.

Used by ``benchmarks/predictor.py --leave-family-out``. Each zoo network is imported once (cached as
JSON under the cache folder), evaluated by the oracle on the same hardware configurations drawn from
the default space, and scored per network: MAPE of P, the share within +-10 %, the worst error, and
what the predictor's out-of-domain guard said (an unseen operator kind is recorded, not raised).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from hwpower.errors import InputError
from hwpower.generate.shards import make_oracle
from hwpower.model import Predictor
from hwpower.networks import import_network
from hwpower.networks.jsonio import dumps_networks, read_networks
from hwpower.oracle import HardwareSpace, OracleSettings

TV = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf",
      "shufflenet_v2_x1_0", "squeezenet1_0", "densenet121", "vgg11", "convnext_tiny", "vit_b_16", "swin_t",
      "googlenet", "mnasnet1_0", "alexnet")
TIMM = ("resnet50d", "efficientnet_b0", "mobilevit_s")
HF = ("bert-base", "gpt2", "vit-base-patch16-224")
SEQ = 128  # sequence length of the text models (short: keeps the oracle and the predictor fast)


def zoo_specs(n_torchvision: int, quick: bool = False) -> list[tuple[str, str, str, dict]]:
    """(name, source family, import spec, import options) of the zoo networks."""
    image = {"input_shape": (1, 3, 224, 224)}
    if quick:
        return [("tv:resnet18", "torchvision", "torchvision:resnet18", {}),
                ("timm:resnet50d", "timm", "module:timm:create_model?model_name=resnet50d", image),
                ("hf:bert-base", "hf", "hf:bert-base", {"resolution": SEQ})]
    out = [(f"tv:{n}", "torchvision", f"torchvision:{n}", {}) for n in TV[:n_torchvision]]
    out += [(f"timm:{n}", "timm", f"module:timm:create_model?model_name={n}", image) for n in TIMM]
    out += [(f"hf:{n}", "hf", f"hf:{n}", {"resolution": SEQ} if n != "vit-base-patch16-224" else {}) for n in HF]
    return out


def load_zoo(specs: list[tuple[str, str, str, dict]], cache: Path) -> dict[str, object]:
    """{name: network}; imports once into ``cache/zoo.json`` (names in ``cache/zoo_names.json``)."""
    nets_file, names_file = cache / "zoo.json", cache / "zoo_names.json"
    names = [s[0] for s in specs]
    if nets_file.is_file() and names_file.is_file() and json.loads(names_file.read_text()) == names:
        nets = read_networks(nets_file)
        return {name: nets[i] for i, name in enumerate(names)}
    nets = {}
    for name, _, spec, options in specs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nets[name] = import_network(spec, **options)
    cache.mkdir(parents=True, exist_ok=True)
    nets_file.write_text(dumps_networks(dict(enumerate(nets.values()))), encoding="utf-8")
    names_file.write_text(json.dumps(names), encoding="utf-8")
    return nets


def truth(nets: dict[str, object], n_hw: int, seed: int) -> pd.DataFrame:
    """Every network on the same ``n_hw`` configurations of the default space: hardware columns,
    ``network`` and the oracle's P (default settings, as ``hwpower generate``)."""
    hw = HardwareSpace.default().sample(n_hw, seed)
    oracle = make_oracle("analytical", OracleSettings())
    frames = []
    for name, net in nets.items():
        out = oracle.evaluate(net, hw)
        frames.append(hw.assign(network=name, P=out["P"].to_numpy()))
    return pd.concat(frames, ignore_index=True)


def score(predictor: Predictor, nets: dict[str, object], rows: pd.DataFrame) -> dict[str, dict]:
    """Per network: MAPE and within-10 % of P, worst error, guard outcome ("ok", "warned: ..." or
    "unseen kind: ..." or "refused: ..." for another input error, the last two with no prediction)."""
    out = {}
    hw_cols = [c for c in rows.columns if c not in ("network", "P")]
    for name, group in rows.groupby("network", sort=False):
        entry: dict = {}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pred = predictor.predict(group[hw_cols + ["network"]].reset_index(drop=True), {name: nets[name]},
                                         out_of_range="warn")
        except InputError as exc:  # the guard refused the network: an unseen operator kind, or another reason
            label = "unseen kind" if "was never seen in training" in str(exc) else "refused"
            out[name] = {"guard": f"{label}: {str(exc)[:160]}"}
            continue
        err = np.abs(pred["P"].to_numpy() / group["P"].to_numpy() - 1) * 100
        texts = [str(w.message) for w in caught]
        entry.update(mape_pct=round(float(err.mean()), 3), within_10_pct=round(float((err <= 10).mean() * 100), 1),
                     max_err_pct=round(float(err.max()), 1), n=len(err),
                     guard="ok" if not texts else f"warned ({len(texts)}): {texts[0][:200]}")
        entry["_err"] = err
        out[name] = entry
    return out


def summarize(per_net: dict[str, dict], families: dict[str, str]) -> dict:
    """Over covered networks (a prediction was made): overall MAPE and within-10 %, per family,
    and the three worst networks."""
    covered = {k: v for k, v in per_net.items() if "_err" in v}
    if not covered:
        return {"covered": 0, "uncovered": sorted(per_net)}
    allerr = np.concatenate([v["_err"] for v in covered.values()])
    fam: dict[str, list] = {}
    for k, v in covered.items():
        fam.setdefault(families.get(k, "?"), []).append(v["_err"])
    worst = sorted(covered, key=lambda k: -covered[k]["mape_pct"])[:3]
    return {
        "covered": len(covered), "uncovered": sorted(set(per_net) - set(covered)),
        "mape_pct": round(float(allerr.mean()), 3), "within_10_pct": round(float((allerr <= 10).mean() * 100), 1),
        "median_net_mape_pct": round(float(np.median([v["mape_pct"] for v in covered.values()])), 3),
        "per_family": {f: {"mape_pct": round(float(np.concatenate(e).mean()), 3),
                           "within_10_pct": round(float((np.concatenate(e) <= 10).mean() * 100), 1)}
                       for f, e in sorted(fam.items())},
        "worst": [(k, covered[k]["mape_pct"], covered[k]["guard"][:120]) for k in worst],
    }


def public(per_net: dict[str, dict]) -> dict[str, dict]:
    """``per_net`` without the raw error arrays (for JSON)."""
    return {k: {a: b for a, b in v.items() if a != "_err"} for k, v in per_net.items()}


# --- leave-family-out benchmark ---------------------------------------------------------------------
SPACES = ("ofa-mbv3", "resnet", "transformer", "mixed")
TARGETS = ("P_core", "P_bw", "latency_ms")


def lfo_args(argv: list[str], quick: bool):
    import argparse

    ap = argparse.ArgumentParser(prog="predictor.py --leave-family-out")
    ap.add_argument("--networks", type=int, default=24 if quick else 2000, help="networks per dataset (all spaces)")
    ap.add_argument("--train-rows", type=int, default=1200 if quick else 400_000)
    ap.add_argument("--val-rows", type=int, default=300 if quick else 50_000)
    ap.add_argument("--fold-scale", type=float, default=1.0, help="networks and rows of the folds that hold a "
                    "family out, as a share of the all-spaces fold's (a smaller run for them)")
    ap.add_argument("--zoo-hw", type=int, default=30 if quick else 200, help="hardware configurations per zoo network")
    ap.add_argument("--torchvision", type=int, default=len(TV), help="torchvision models in the zoo (<= 16)")
    ap.add_argument("--family-nets", type=int, default=3 if quick else 12, help="held-out family networks scored")
    ap.add_argument("--models", default="structured,gbt" if quick else "structured,mlp,gbt")
    ap.add_argument("--folds", default="all," + ",".join(SPACES), help="all and/or spaces to hold out")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/hwpower_lfo_cache"), help="datasets and zoo (reused)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=None, help="structured model width (default 32 quick, 48 full)")
    return ap.parse_args(argv)


def fold_data(a, fold: str) -> Path:
    """Raw and processed data of a fold (all spaces, or all but ``fold``), generated once into the cache."""
    from hwpower.generate import GenerateConfig, generate
    from hwpower.processing import process

    spaces = [s for s in SPACES if s != fold]
    k = 1.0 if fold == "all" else a.fold_scale
    nets, train, val = (max(1, round(x * k)) for x in (a.networks, a.train_rows, a.val_rows))
    folder = a.cache / f"{fold}-n{nets}-t{train}-v{val}-s{a.seed}"
    if not (folder / "processed" / "done").is_file():
        generate(folder / "raw", GenerateConfig(networks=nets, train_rows=train, val_rows=val,
                                                seed=a.seed, search_space=",".join(spaces), shards=4))
        process(folder / "raw", folder / "processed", progress=False)
        (folder / "processed" / "done").write_text("ok\n")
    return folder


def family_nets(all_folder: Path, space: str, k: int) -> dict[str, object]:
    nets = read_networks(all_folder / "raw" / f"nets_{space}.json")
    return {f"{space}/{i}": nets[i] for i in sorted(nets)[:k]}


def model_params(name: str, quick: bool, threads: int, epochs: int | None, hidden: int | None = None) -> dict:
    if name == "gbt":
        return dict(targets=TARGETS, n_jobs=threads, **({"n_estimators": 150} if quick else {}))
    neural = dict(targets=TARGETS, epochs=epochs or (4 if quick else 20), batch_size=256,
                  device="cpu", **({} if quick else {"lr": 2e-3, "patience": 4}))
    # the seed's MLP reads blocks by default; graph networks (three of the four spaces, every zoo model)
    # have operators only, so here it reads the zero-padded operator sequence
    width = hidden or (32 if quick else 48)
    return {**neural, "hidden": width} if name == "structured" else {**neural, "elements": "ops"}


def run_fold(a, fold: str, name: str, params: dict, zoo_rows, zoo_nets, fam, fam_rows, families) -> dict:
    import time

    from hwpower.model import evaluate, make_model
    from hwpower.processing import load_processed

    ds = load_processed(fold_data(a, fold) / "processed")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            predictor = Predictor(make_model(name, **params).fit(ds))
        except (InputError, ValueError) as exc:  # the seed's MLP reads blocks: graph networks have none
            print(f"{fold:12s} {name:10s} cannot train: {str(exc)[:150]}", flush=True)
            return {"error": str(exc)[:300]}
        seconds = time.perf_counter() - t0
        ev = evaluate(predictor, ds)
    res = {"train_s": round(seconds, 1), "in_family": {s: round(ev.splits[s]["P"]["mape_pct"], 3)
                                                      for s in ("unseen_hardware", "unseen_networks")}}
    zoo_scores = score(predictor, zoo_nets, zoo_rows)
    res["zoo"] = summarize(zoo_scores, families)
    res["zoo_per_network"] = public(zoo_scores)
    if fam:
        fam_scores = score(predictor, fam, fam_rows)
        res["heldout_family"] = summarize(fam_scores, {k: fold for k in fam})
        res["heldout_family_per_network"] = public(fam_scores)
    if fold == "all" and name == "structured":
        from predictor import throughput  # benchmarks/ is on sys.path when predictor.py runs

        res["inference_per_s"] = throughput(predictor, ds, 5_000 if a.zoo_hw < 100 else 50_000)
    z = res["zoo"]
    print(f"{fold:12s} {name:10s} {seconds:6.1f} s  in-family unseen hw {res['in_family']['unseen_hardware']:.3f} %  "
          f"zoo MAPE {z.get('mape_pct', float('nan')):.2f} % within10 {z.get('within_10_pct', float('nan')):.1f} %"
          + (f"  held-out family {res['heldout_family'].get('mape_pct', float('nan')):.2f} %" if fam else ""),
          flush=True)
    return res


def lfo_targets(results: dict) -> dict:
    best = results.get("all", {}).get("structured")
    if not best or "mape_pct" not in best.get("zoo", {}):
        return {}
    out = {"zoo_within_10_ge_95": best["zoo"]["within_10_pct"] >= 95.0,
           "zoo_covered_mape_le_3": best["zoo"]["mape_pct"] <= 3.0,
           "in_family_unseen_hw_mape_le_0_5": best["in_family"]["unseen_hardware"] <= 0.5}
    gbt = results["all"].get("gbt")
    if gbt and "mape_pct" in gbt.get("zoo", {}):
        out["zoo_2x_better_than_gbt"] = best["zoo"]["mape_pct"] * 2 <= gbt["zoo"]["mape_pct"]
    return out


def run_lfo(argv: list[str], *, quick: bool, threads: int, epochs: int | None) -> None:
    import time

    t0 = time.perf_counter()
    a = lfo_args(argv, quick)
    specs = zoo_specs(a.torchvision, quick)
    families = {s[0]: s[1] for s in specs}
    zoo_nets = load_zoo(specs, a.cache / f"zoo-{'quick' if quick else a.torchvision}")
    zoo_rows = truth(zoo_nets, a.zoo_hw, seed=12345)
    all_folder = fold_data(a, "all")
    results: dict[str, dict] = {}
    for fold in a.folds.split(","):
        fam = family_nets(all_folder, fold, a.family_nets) if fold in SPACES else {}
        fam_rows = truth(fam, a.zoo_hw, seed=12345) if fam else None
        results[fold] = {m: run_fold(a, fold, m, model_params(m, quick, threads, epochs, a.hidden), zoo_rows, zoo_nets, fam,
                                     fam_rows, families) for m in a.models.split(",")}
    out = {"benchmark": "predictor-leave-family-out", "mode": "quick" if quick else "full",
           "networks": a.networks, "train_rows": a.train_rows, "val_rows": a.val_rows, "fold_scale": a.fold_scale,
           "zoo_hw": a.zoo_hw,
           "zoo": [s[0] for s in specs], "threads": threads, "results": results,
           "targets_met": lfo_targets(results), "total_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out))
