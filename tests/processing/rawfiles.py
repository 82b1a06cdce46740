"""Hand-written raw folders for the processing tests: sampled networks, rows in several file shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwpower.networks import sample_networks, write_networks

HEADER = ["pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps", "freq_mhz", "bits", "dataflow", "network",
          "P_core", "P_bw", "P", "latency_ms", "energy_mj"]
NETS = sample_networks("ofa-mbv3", 4, seed=1)


def make_rows(n: int, seed: int, net_ids=(0, 1, 2)) -> list[dict]:
    """Valid rows (floats are written with repr, so they read back exactly)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        p_core, p_bw = round(float(rng.uniform(0.01, 3)), 5), round(float(rng.uniform(0.01, 1)), 5)
        lat = round(float(rng.uniform(0.5, 50)), 4)
        rows.append({
            "pe_rows": int(rng.choice([4, 8, 16])), "pe_cols": int(rng.choice([8, 32])), "rf_bytes": 64,
            "glb_kib": int(rng.choice([64, 256])), "dram_gbps": float(rng.choice([1.5, 8.0])),
            "freq_mhz": int(rng.choice([200, 800])), "bits": int(rng.choice([8, 16])),
            "dataflow": str(rng.choice(["os", "ws"])), "network": f"nets_0/{int(rng.choice(net_ids))}",
            "P_core": p_core, "P_bw": p_bw, "P": round(p_core + p_bw, 5), "latency_ms": lat,
            "energy_mj": round((p_core + p_bw) * lat, 4),
        })
    return rows


def _cell(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class Shape:
    """How a sample file is written: separator, line ending, column order, extra columns, network form."""

    sep: str = " "
    newline: str = "\n"
    columns: list[str] = field(default_factory=lambda: list(HEADER))
    extra: dict[str, str] = field(default_factory=dict)  # column -> constant value
    network: str = "{stem}/{id}"  # how a key is written, from stem and id
    pad: str = ""  # written around each separator (e.g. extra spaces)
    net_col: str = "network"  # the header name of the network column

    def text(self, rows: list[dict]) -> str:
        cols = self.columns + list(self.extra)
        sep = f"{self.pad}{self.sep}{self.pad}"
        lines = [sep.join(cols)]
        for row in rows:
            stem, net_id = row["network"].split("/")
            values = {**row, **self.extra, self.net_col: self.network.format(stem=stem, id=net_id)}
            lines.append(sep.join(_cell(values[c]) for c in cols))
        return self.newline.join(lines) + self.newline


def write_raw(root: Path, train: list[list[dict]], val: list[list[dict]], shape: Shape | None = None,
              nets: dict | None = None) -> Path:
    """A raw folder: nets_0.json plus one train/val file per row list."""
    shape = shape or Shape()
    root.mkdir(parents=True, exist_ok=True)
    write_networks(root / "nets_0.json", NETS if nets is None else nets)
    for role, shards in (("train", train), ("val", val)):
        for i, rows in enumerate(shards):
            (root / f"{role}_{i}.txt").write_bytes(shape.text(rows).encode("utf-8"))
    return root


def standard_raw(root: Path, shape: Shape | None = None) -> Path:
    return write_raw(root, [make_rows(30, 1), make_rows(20, 2)], [make_rows(10, 3, net_ids=(1, 3))], shape)
