"""Benchmark of ``hwpower process`` against pyarrow's CSV reader alone, on the same raw text files.

Targets (issue 4): processing time <= 3x the time ``pyarrow.csv.read_csv`` takes to parse the same
train/val text files, measured side by side in this run; peak RSS < 2 GB; processed output <= 1/5
of the raw text on disk.

    python benchmarks/process.py --raw /tmp/hwpower-process-bench/raw   # data from `hwpower generate`
    python benchmarks/process.py --quick                                # own small data, < 60 s
    python benchmarks/process.py --raw RAW --decimal64   # also the size with targets as Arrow decimal64
    python benchmarks/process.py --raw RAW --compare OLD_SRC   # also time another version's package
                                                               # (OLD_SRC holds its hwpower/), same run

Each measurement runs in a fresh child process (so peak RSS is the child's own), alternating
baseline and processing; the medians are reported. Prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

CHILD_BASELINE = """
import json, resource, sys, time
from pathlib import Path
import pyarrow.csv as pc
files = sorted(Path(sys.argv[1]).glob("train_*.txt")) + sorted(Path(sys.argv[1]).glob("val_*.txt"))
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
t, c = time.perf_counter(), cpu()
rows = sum(pc.read_csv(f, parse_options=pc.ParseOptions(delimiter=" ")).num_rows for f in files)
dt, dc = time.perf_counter() - t, cpu() - c
print(json.dumps({"s": dt, "cpu_s": dc, "rows": rows, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_PROCESS = """
import json, resource, sys, time
from hwpower.processing import process
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
t, c = time.perf_counter(), cpu()
ds = process(sys.argv[1], sys.argv[2], progress=False)  # what `hwpower process RAW --out OUT` does
dt, dc = time.perf_counter() - t, cpu() - c
t = time.perf_counter()
rows = len(ds.train) + len(ds.val)  # the pandas tables, built on first use (timed apart)
frames_s = time.perf_counter() - t
print(json.dumps({"s": dt, "cpu_s": dc, "rows": rows, "frames_s": frames_s,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_synthetic(raw: Path, n_networks: int, n_rows: int, seed: int = 0) -> None:
    """Raw data without the oracle (for --quick): sampled networks, random hardware rows, random
    positive powers with P = P_core + P_bw, written in generate's format (%.6g, four shards)."""
    from hwpower.networks import sample_networks, write_networks

    raw.mkdir(parents=True, exist_ok=True)
    write_networks(raw / "nets_0.json", sample_networks("ofa-mbv3", n_networks, seed))
    rng = np.random.default_rng(seed)
    for role, rows in (("train", int(n_rows * 0.9)), ("val", n_rows - int(n_rows * 0.9))):
        for shard, n in enumerate(np.diff(np.linspace(0, rows, 5).astype(int))):
            p_core, p_bw, lat = rng.lognormal(-1, 1, n), rng.lognormal(-2, 0.5, n), rng.lognormal(2, 1, n)
            df = pd.DataFrame({
                "pe_rows": rng.choice([4, 8, 16, 32, 64], n), "pe_cols": rng.choice([4, 8, 16, 32, 64], n),
                "rf_bytes": rng.choice([16, 64, 256, 1024], n), "glb_kib": rng.choice([16, 64, 256, 1024, 4096], n),
                "dram_gbps": rng.choice([1, 2, 4, 8, 16, 32, 64], n), "freq_mhz": rng.choice(np.arange(100, 1001, 100), n),
                "bits": rng.choice([8, 16], n), "dataflow": rng.choice(["os", "ws"], n),
                "network": np.char.add("nets_0/", rng.integers(0, n_networks, n).astype(str)),
                "P_core": p_core, "P_bw": p_bw, "P": p_core + p_bw, "latency_ms": lat, "energy_mj": (p_core + p_bw) * lat,
            })
            df.to_csv(raw / f"{role}_{shard}.txt", sep=" ", index=False, float_format="%.6g")


def run_child(code: str, *args: str, pythonpath: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def decimal64_size(folder: Path) -> dict:
    """Issue 16: the processed size if the decimal targets were Arrow decimal64 columns (one fixed scale
    per column, so other tools read real decimals) instead of int32 significand + int8 exponent; same
    zstd level, the smaller of plain and byte-stream split; residual targets unchanged."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def written(table, **kw) -> int:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd", compression_level=1, **kw)
        return len(buf.getvalue())

    storage = json.loads((folder / "manifest.json").read_text())["storage"]["targets"]
    now = sum(p.stat().st_size for p in folder.iterdir())
    delta, types = 0, {}
    for split in ("train", "val"):
        t = pq.read_table(folder / f"{split}.parquet")
        for name, spec in storage.items():
            if spec["encoding"] != "decimal":
                continue
            sig, exp = (t[c].to_numpy().astype(np.int64) for c in spec["columns"])
            scale = int(-exp.min())
            unscaled = sig * 10 ** (exp + scale)
            precision = max(len(str(int(np.abs(unscaled).max()))), scale + 1)
            if precision > 18:
                return {"decimal64": f"{name} needs {precision} digits: not a decimal64"}
            arr = pa.Array.from_buffers(pa.decimal64(precision, scale), len(unscaled),
                                        pa.array(unscaled, pa.int64()).buffers())
            one = pa.table({"v": arr})
            delta += min(written(one, use_dictionary=False), written(one, use_dictionary=False, use_byte_stream_split=["v"]))
            delta -= written(pa.table({"s": t[spec["columns"][0]], "e": t[spec["columns"][1]]}),
                             use_dictionary=["e"], use_byte_stream_split=["s"])
            types[name] = f"decimal64({precision},{scale})"
    return {"processed_bytes_decimal64": now + delta, "decimal64_types": types}


def size(paths) -> int:
    return sum(p.stat().st_size for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="raw folder (e.g. from `hwpower generate`); default: synthetic")
    parser.add_argument("--quick", action="store_true", help="small synthetic data, ends within 60 s")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--compare", type=Path, help="folder holding another version's hwpower/ package, timed too")
    parser.add_argument("--decimal64", action="store_true", help="also the size with targets as Arrow decimal64")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="hwpower-bench-process-") as tmp:
        raw = args.raw
        if raw is None:
            raw = Path(tmp) / "raw"
            write_synthetic(raw, *((500, 100_000) if args.quick else (5000, 1_000_000)))
        out = Path(tmp) / "processed"
        base, proc, other = [], [], []
        for _ in range(repeats):  # alternate, so machine noise hits all alike
            base.append(run_child(CHILD_BASELINE, str(raw)))
            proc.append(run_child(CHILD_PROCESS, str(raw), str(out)))
            if args.compare:
                other.append(run_child(CHILD_PROCESS, str(raw), str(Path(tmp) / "other"), pythonpath=args.compare))
        text = sorted(raw.glob("train_*.txt")) + sorted(raw.glob("val_*.txt"))
        nets = sorted(raw.glob("nets_*.json"))
        processed = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
        base_s = statistics.median(r["s"] for r in base)
        proc_s = statistics.median(r["s"] for r in proc)
        result = {
            "benchmark": "process", "quick": args.quick, "raw": str(args.raw or "synthetic"),
            "rows": proc[0]["rows"], "networks": sum(1 for _ in nets) and len(pd.read_parquet(out / "networks.parquet")),
            "pyarrow_csv_s": round(base_s, 3), "process_s": round(proc_s, 3),
            "time_ratio": round(proc_s / base_s, 2), "time_ratio_target": 3.0,
            "all_pyarrow_csv_s": [round(r["s"], 3) for r in base], "all_process_s": [round(r["s"], 3) for r in proc],
            # CPU seconds (user + system) are far less sensitive to other users of a shared machine
            "pandas_frames_s": round(statistics.median(r["frames_s"] for r in proc), 3),
            "pyarrow_csv_cpu_s": round(statistics.median(r["cpu_s"] for r in base), 3),
            "process_cpu_s": round(statistics.median(r["cpu_s"] for r in proc), 3),
            "cpu_ratio": round(statistics.median(r["cpu_s"] for r in proc) / statistics.median(r["cpu_s"] for r in base), 2),
            "peak_rss_mb": round(max(r["rss_mb"] for r in proc), 1), "peak_rss_target_mb": 2048,
            "raw_text_bytes": size(text), "raw_nets_bytes": size(nets), "processed_bytes": sum(processed.values()),
            "size_ratio_vs_sample_text": round(sum(processed.values()) / size(text), 3),
            "size_ratio_vs_raw_folder": round(sum(processed.values()) / (size(text) + size(nets)), 3),
            "size_ratio_target": 0.2, "processed_files": processed,
            "target_storage": json.loads((out / "manifest.json").read_text())["storage"]["targets"],
        }
        if args.decimal64:
            result |= decimal64_size(out)
            if "processed_bytes_decimal64" in result:
                result["size_ratio_decimal64"] = round(result["processed_bytes_decimal64"] / size(text), 3)
        if other:
            result["compare"] = {
                "src": str(args.compare), "process_s": round(statistics.median(r["s"] for r in other), 3),
                "process_cpu_s": round(statistics.median(r["cpu_s"] for r in other), 3),
                "time_ratio": round(statistics.median(r["s"] for r in other) / base_s, 2),
                "peak_rss_mb": round(max(r["rss_mb"] for r in other), 1),
                "processed_bytes": sum(p.stat().st_size for p in (Path(tmp) / "other").iterdir()),
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
