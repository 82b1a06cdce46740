"""Benchmark of the report (issue 7): the time ``hwpower report`` takes, and the demo's wall time.

Measured on the embedded default data (examples/data/raw: 5,000 train and 1,000 val rows, 50
networks), processed once and with a small predictor trained once (set-up, not timed):

* ``report_s``: ``build_report`` with the run (every section: statistics, k-means, per-network
  error through the predictor, evaluation, experiments absent), median of the repeats;
* ``stats_s``: ``build_stats`` (no run), median of the repeats;
* ``kmeans_s``: the k-means step alone (choice of k by silhouette over k = 2..16), the
  largest single part of the statistics (full mode only);
* ``demo_s``: ``hwpower demo`` end to end in a child process (full mode only; null in --quick,
  which must end within 60 s, with the reason in ``demo_note``).

    python benchmarks/report.py            # 3 repeats, and the demo
    python benchmarks/report.py --quick    # 1 repeat, no demo, no separate k-means (< 60 s)

Runs with ``OMP_NUM_THREADS=1`` unless set otherwise. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One OpenMP thread for torch and scikit-learn (set before they load): on this small shared machine
# idle threads spin, and wall times with the default pools vary several-fold with the others' load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "examples" / "data" / "raw"


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``fn()``."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def setup(work: Path) -> tuple[Path, Path]:
    from hwpower.model import evaluate, train_model, write_evaluation
    from hwpower.processing import process

    processed, run = work / "processed", work / "run"
    ds = process(RAW, processed, progress=False)
    predictor = train_model(ds, "structured", run_dir=run, targets=("P_core", "P_bw"), epochs=1, hidden=16,
                            device="cpu", progress=False)
    write_evaluation(evaluate(predictor, ds), run)
    return processed, run


def bench_kmeans(processed: Path) -> dict[str, float]:
    from hwpower.processing import load_processed
    from hwpower.report import hardware_kmeans, space_of

    ds = load_processed(processed)
    wall, cpu = timed(lambda: hardware_kmeans(ds, space_of(ds)))
    return {"kmeans_s": wall, "kmeans_cpu_s": cpu}


def bench_demo(work: Path) -> tuple[float | None, str]:
    try:
        from hwpower.cli.demo import run_demo  # noqa: F401
    except ImportError as exc:
        return None, f"hwpower.cli.demo.run_demo is not available ({exc})"
    t = time.perf_counter()
    cli = Path(sys.executable).parent / "hwpower"  # the console script installed beside this Python
    res = subprocess.run([str(cli), "demo", "--out", str(work / "demo")], capture_output=True, text=True, cwd=work)
    if res.returncode != 0:
        return None, f"hwpower demo failed (exit {res.returncode}): {res.stderr.strip()[-300:]}"
    return time.perf_counter() - t, "hwpower demo --out DIR, child process, wall time including imports"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat and no demo (ends within 60 s)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)

    from hwpower import __version__
    from hwpower.report import build_report, build_stats

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        setup_s, _ = timed(lambda: setup(work))
        processed, run = work / "processed", work / "run"
        report, stats = [], []
        for i in range(repeats):
            report.append(timed(lambda: build_report(processed, work / f"report{i}", run, progress=False)))
            stats.append(timed(lambda: build_stats(processed, work / f"stats{i}", progress=False)))
        result = {
            "benchmark": "report", "hwpower_version": __version__, "quick": args.quick, "repeats": repeats,
            "cpus": os.cpu_count(), "omp_num_threads": os.environ["OMP_NUM_THREADS"],
            "data": "examples/data/raw (5000 train, 1000 val rows, 50 networks)",
            "setup_s": setup_s,
            "report_s": statistics.median(w for w, _ in report), "report_cpu_s": statistics.median(c for _, c in report),
            "stats_s": statistics.median(w for w, _ in stats), "stats_cpu_s": statistics.median(c for _, c in stats),
            "report_mb": sum(p.stat().st_size for p in (work / "report0").iterdir()) / 1e6,
        }
        # in --quick the k-means alone is left out: it is part of stats_s, and --quick must end within 60 s
        result.update(bench_kmeans(processed) if not args.quick else {"kmeans_s": None, "kmeans_cpu_s": None})
        if args.quick:
            result["demo_s"], result["demo_note"] = None, "not run in --quick (the demo takes minutes)"
        else:
            result["demo_s"], result["demo_note"] = bench_demo(work)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
