"""Peak memory of ``hwpower generate`` and ``hwpower process`` as the rows grow (issue 15, item 5).

Target: 20M rows within 1.5 GB peak RSS on the 2-core development machine, at the rows/s of smaller
runs; peak RSS flat from 1M to 20M rows. Each run is a fresh child process, so its peak RSS
(``ru_maxrss``) is its own. Sizes are total rows (10 % val, at most 100,000: training draws only
configurations no validation row has, and 2M validation rows would take 96 % of the default grid's
441,000), generated with the default
shards (4 per split, more when a file would exceed 1,000,000 rows) from the default mix of networks.

    python benchmarks/memory.py                          # 1M, 4M and 20M rows (several minutes)
    python benchmarks/memory.py --quick                  # 20k, 50k, 100k rows, < 60 s
    python benchmarks/memory.py --compare OLD_SRC --compare-max 4000000
        # also runs another version's package (OLD_SRC holds its hwpower/, e.g. `git archive HEAD src`)
        # up to that size, side by side, and checks that its files are byte-identical

Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD_GENERATE = """
import json, resource, sys, time
from hwpower.generate import GenerateConfig, generate
rows, val, networks, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
m = generate(out, GenerateConfig(networks=networks, train_rows=rows - val, val_rows=val, seed=0))
dt = time.perf_counter() - t
print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "files": {k: v["sha256"] for k, v in m["files"].items()}}))
"""

CHILD_PROCESS = """
import json, resource, sys, time
from hwpower.processing import process
t = time.perf_counter()
ds = process(sys.argv[1], sys.argv[2], progress=False)  # what `hwpower process RAW --out OUT` does
dt = time.perf_counter() - t
print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": ds.manifest["counts"]["train_rows"] + ds.manifest["counts"]["val_rows"]}))
"""


def run_child(code: str, *args: str, src: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sha_of_samples(folder: Path) -> str:
    """One sha256 over the sample files (train, val, rejects): what item 5 changed the writing of."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.name in ("train.parquet", "val.parquet", "rejects.parquet"):
            h.update(p.name.encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def sha_of_rows(raw: Path) -> str:
    """One sha256 over the rows of each split in shard order, header lines left out: equal for the same
    rows however they are split into files."""
    h = hashlib.sha256()
    for split in ("train", "val"):
        for p in sorted(raw.glob(f"{split}_*.txt"), key=lambda p: int(p.stem.split("_")[1])):
            with open(p, "rb") as f:
                f.readline()
                while chunk := f.read(1 << 24):
                    h.update(chunk)
    return h.hexdigest()


def sha_of_stored(folder: Path) -> str:
    """One sha256 over the stored columns of train and val (row groups left out of account)."""
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    for name in ("train", "val"):
        table = pq.read_table(folder / f"{name}.parquet").combine_chunks()
        for column in table.columns:
            chunk = column.chunk(0) if column.num_chunks else None
            if chunk is None:
                continue
            if hasattr(chunk, "indices"):
                h.update(repr(chunk.dictionary.to_pylist()).encode())
                chunk = chunk.indices
            h.update(chunk.to_numpy(zero_copy_only=False).tobytes())
    return h.hexdigest()


def measure(rows: int, networks: int, work: Path, src: Path | None, label: str, content: bool) -> dict:
    raw, out = work / f"raw-{label}-{rows}", work / f"processed-{label}-{rows}"
    val = min(rows // 10, 100_000)  # more validation configurations would leave too few of the grid's for training
    g = run_child(CHILD_GENERATE, str(rows), str(val), str(networks), str(raw), src=src)
    p = run_child(CHILD_PROCESS, str(raw), str(out), src=src)
    result = {
        "rows": rows, "raw_bytes": sum(f.stat().st_size for f in raw.iterdir()),
        "generate_s": round(g["s"], 1), "generate_rows_per_s": round(rows / g["s"]), "generate_peak_mb": round(g["rss_mb"]),
        "process_s": round(p["s"], 2), "process_rows_per_s": round(rows / p["s"]), "process_peak_mb": round(p["rss_mb"]),
        "raw_files": g["files"], "samples_sha": sha_of_samples(out),
    }
    if content:  # the same rows and stored values, however many files and row groups hold them
        result |= {"rows_sha": sha_of_rows(raw), "stored_sha": sha_of_stored(out)}
    shutil.rmtree(raw)
    shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20k, 50k and 100k rows: ends within 60 s")
    parser.add_argument("--sizes", type=int, nargs="+", help="total rows per run (default 1M 4M 20M)")
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one); needs ~100 B a row")
    parser.add_argument("--compare", type=Path, help="folder holding another version's hwpower/ package")
    parser.add_argument("--compare-max", type=int, default=4_000_000, help="largest size run with --compare")
    args = parser.parse_args()
    sizes = args.sizes or ([20_000, 50_000, 100_000] if args.quick else [1_000_000, 4_000_000, 20_000_000])
    networks = 10 if args.quick and args.networks == 100 else args.networks
    runs, compare = [], []
    with tempfile.TemporaryDirectory(prefix="hwpower-bench-memory-", dir=args.work) as tmp:
        for rows in sizes:  # side by side: each size by this code, then by the other
            content = bool(args.compare) and rows <= args.compare_max
            runs.append(measure(rows, networks, Path(tmp), None, "new", content))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "raw_files"}), file=sys.stderr)
            if args.compare and rows <= args.compare_max:
                compare.append(measure(rows, networks, Path(tmp), args.compare, "old", content))
                compare[-1]["identical_raw"] = compare[-1]["raw_files"] == runs[-1]["raw_files"]
                compare[-1]["identical_processed"] = compare[-1]["samples_sha"] == runs[-1]["samples_sha"]
                compare[-1]["same_rows"] = compare[-1]["rows_sha"] == runs[-1]["rows_sha"]
                compare[-1]["same_stored_values"] = compare[-1]["stored_sha"] == runs[-1]["stored_sha"]
                print(json.dumps({k: v for k, v in compare[-1].items() if k != "raw_files"}), file=sys.stderr)
    for r in runs + compare:
        r.pop("raw_files")
    largest = max(runs, key=lambda r: r["rows"])
    result = {
        "benchmark": "memory", "quick": args.quick, "networks": networks, "runs": runs,
        "peak_mb_target": 1536, "largest_rows": largest["rows"],
        "generate_peak_mb_largest": largest["generate_peak_mb"], "process_peak_mb_largest": largest["process_peak_mb"],
        "met": largest["generate_peak_mb"] <= 1536 and largest["process_peak_mb"] <= 1536,
    }
    if compare:
        result["compare"] = {"src": str(args.compare), "runs": compare}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
