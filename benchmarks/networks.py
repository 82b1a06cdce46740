"""Benchmark: sample networks from the OFA-MobileNetV3 space, count them, write and read them; then
the census of the operator-level PyTorch importer over every torchvision model (networks_census.py:
imported per family, MAC error against the published figures, exact weights, import time, and
every failure with its reason), and BERT-base's import time.

Run as ``python benchmarks/networks.py [--quick] [--no-census]``; ``--quick`` imports 6 models
instead of all. The census table is printed in Markdown; the last line printed is one JSON object.
Counting is timed twice on the same networks: with the per-block memo cold (first pass after
sampling), and with per-layer counting only (the memo bypassed), to show what the memo buys.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import hwpower
from hwpower.networks import Counts, block_counts, read_networks, sample_networks, write_networks


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 networks instead of 10,000")
    parser.add_argument("-n", type=int, default=None, help="number of networks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-census", action="store_true", help="skip the torchvision import census")
    parser.add_argument("--progress", action="store_true", help="print each census model as it is imported")
    args = parser.parse_args()
    n = args.n or (2_000 if args.quick else 10_000)

    nets, t_sample = _timed(lambda: sample_networks("ofa-mbv3", n, args.seed))
    block_counts.cache_clear()
    totals, t_count = _timed(lambda: [net.counts for net in nets.values()])
    n_layers = sum(c.n_layers for c in totals)
    uncached, t_uncached = _timed(
        lambda: [Counts.total([block_counts.__wrapped__(b) for b in net.blocks]) for net in nets.values()]
    )
    assert uncached == totals, "memoised and direct counts differ"
    tables, t_tables = _timed(lambda: [net.layer_table() for net in nets.values()])
    assert sum(len(t) for t in tables) == n_layers
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nets_bench.json"
        _, t_write = _timed(lambda: write_networks(path, nets))
        back, t_read = _timed(lambda: read_networks(path))
        size_mb = path.stat().st_size / 1e6
    assert back == nets, "JSON round trip changed the networks"
    macs = sorted(c.macs for c in totals)
    census = {} if args.no_census else _census(args.quick, args.progress)
    print(json.dumps({
        "benchmark": "networks", "hwpower_version": hwpower.__version__, "quick": args.quick, "n_networks": n,
        "n_layers": n_layers, "sample_s": round(t_sample, 3), "sample_networks_per_s": round(n / t_sample),
        "count_s": round(t_count, 3), "count_networks_per_s": round(n / t_count),
        "count_layers_per_s": round(n_layers / t_count),
        "count_uncached_networks_per_s": round(n / t_uncached), "memo_speedup": round(t_uncached / t_count, 1),
        "block_memo_size": block_counts.cache_info().currsize,
        "sample_and_count_networks_per_s": round(n / (t_sample + t_count)),
        "layer_table_networks_per_s": round(n / t_tables),
        "write_s": round(t_write, 3), "read_s": round(t_read, 3), "file_mb": round(size_mb, 2),
        "macs_min_median_max_m": [round(macs[0] / 1e6, 1), round(macs[n // 2] / 1e6, 1), round(macs[-1] / 1e6, 1)],
        **census,
    }))


def _census(quick: bool, progress: bool) -> dict:
    from networks_census import QUICK_MODELS, bert_base_seconds, markdown, run_census, summarise
    from torchvision.models import list_models

    names = list(QUICK_MODELS) if quick else list_models()
    start = time.perf_counter()
    rows = run_census(names, progress)
    total_s = time.perf_counter() - start
    summary = summarise(rows)
    print(markdown(rows, summary))
    seconds = {r["name"]: round(r["seconds"], 2) for r in rows}
    bert_s = bert_base_seconds()
    cls = summary.get("classification", {})
    good = sum(r["ok"] and r["within_1pct"] and r["weights_exact"] for r in rows if r["family"] == "classification")
    return {
        "census_models": len(rows), "census_imported": sum(r["ok"] for r in rows), "census_s": round(total_s, 1),
        "census_oracle_evaluated": sum(r["ok"] and r["oracle_ok"] for r in rows),
        "census_families": summary,
        "classification_macs_1pct_and_weights_exact_pct": round(100 * good / cls["total"], 1) if cls else None,
        "import_s_resnet50": seconds.get("resnet50"), "import_s_bert_base": round(bert_s, 2) if bert_s else None,
        "census_failures": {r["name"]: r["reason"] for r in rows if not r["ok"]},
    }


if __name__ == "__main__":
    main()
