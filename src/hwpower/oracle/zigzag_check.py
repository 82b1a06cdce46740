"""Cross-check the analytical oracle against ZigZag on random (layer, configuration) pairs.

Both sides cost the same hardware with the same energy constants; they differ in how they map a
layer (ZigZag searches spatial and temporal mappings, the oracle uses a closed-form one) and in how
they count accesses. Rank agreement (Spearman) is what the generator's data needs; the median
ratio says how far the absolute levels are apart. docs/oracle.md ("Cross-check against ZigZag")
records the figures and explains the disagreements.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from ..networks import Layer, LayerOp, LayerTable, Op, sample_networks
from .model import Oracle
from .peers import rank_agreement
from .settings import OracleSettings
from .space import HardwareSpace
from .zigzag_oracle import MAC_OPS, ZigZagOracle
from .zigzag_translate import loop_nest

logger = logging.getLogger(__name__)


def reference_layers() -> list[Layer]:
    """Conv and fully connected layers in the shapes of classic networks (ResNet-18/50, VGG-16,
    AlexNet, MobileNetV2), to add dense 3x3 / 7x7 and large FC layers to the OFA-MobileNetV3 mix."""
    conv, fc = LayerOp.CONV, LayerOp.LINEAR
    return [
        Layer("resnet_stem7x7", conv, 3, 64, 224, 112, kernel=7, stride=2),
        Layer("resnet_3x3_56", conv, 64, 64, 56, 56, kernel=3),
        Layer("resnet_3x3_28s2", conv, 64, 128, 56, 28, kernel=3, stride=2),
        Layer("resnet_3x3_14", conv, 256, 256, 14, 14, kernel=3),
        Layer("resnet_3x3_7", conv, 512, 512, 7, 7, kernel=3),
        Layer("resnet_proj_1x1", conv, 128, 256, 28, 14, kernel=1, stride=2),
        Layer("resnet50_1x1_expand", conv, 64, 256, 56, 56, kernel=1),
        Layer("vgg_3x3_112", conv, 128, 128, 112, 112, kernel=3),
        Layer("alexnet_11x11", conv, 3, 96, 227, 55, kernel=11, stride=4),
        Layer("mbv2_dw_3x3", conv, 144, 144, 56, 56, kernel=3, groups=144),
        Layer("resnet_fc", fc, 512, 1000, 1, 1),
        Layer("alexnet_fc6", fc, 9216, 4096, 1, 1),
        Layer("mbv2_fc", fc, 1280, 1000, 1, 1),
    ]


def attention_matmuls() -> list[Op]:
    """Activation-activation matmuls of attention (Q K^T and A V per head) in the shapes of classic
    transformers: BERT-base at 128 tokens (12 heads of 64), ViT-Ti/16 (3 heads of 64, 197 tokens),
    DeiT-S/16 (6 heads of 64), MobileViT-XS-like small attention (4 heads of 24 on 64 tokens)."""
    def pair(name: str, heads: int, tokens: int, d: int) -> list[Op]:
        q, kt, att = (1, heads, tokens, d), (1, heads, d, tokens), (1, heads, tokens, tokens)
        return [Op.build(f"{name}_qk", "matmul", ["q", "kt"], [q, kt], att),
                Op.build(f"{name}_av", "matmul", ["a", "v"], [att, q], q)]
    return [*pair("bert_base", 12, 128, 64), *pair("vit_ti", 3, 197, 64), *pair("deit_s", 6, 197, 64),
            *pair("small_attn", 4, 64, 24)]


def layer_kind(layer: Layer | Op) -> str:
    """conv, pointwise, depthwise, fc or matmul."""
    return loop_nest(layer).kind


def layer_pool(seed: int, n_networks: int = 4) -> list[Layer]:
    """Distinct-shape MAC layers of a few sampled OFA-MobileNetV3 networks."""
    seen: dict[tuple, Layer] = {}
    for net in sample_networks("ofa-mbv3", n_networks, seed).values():
        for x in net.layers:
            if x.op in MAC_OPS:
                seen.setdefault((x.op, x.in_channels, x.out_channels, x.in_size, x.out_size, x.kernel,
                                 x.stride, x.groups), x)
    return list(seen.values())


def _pairs(n_pairs: int, seed: int, pool: Sequence[Layer | Op] | None = None) -> tuple[list[Layer | Op], pd.DataFrame]:
    """Every other pair takes a reference layer, so dense and FC layers are not swamped by the
    OFA networks' many pointwise and depthwise layers; with ``pool``, every pair draws from it."""
    rng = np.random.default_rng(seed)
    if pool is not None:
        layers = [pool[rng.integers(len(pool))] for _ in range(n_pairs)]
    else:
        ofa, ref = layer_pool(seed), reference_layers()
        layers = [ref[rng.integers(len(ref))] if i % 2 else ofa[rng.integers(len(ofa))] for i in range(n_pairs)]
    return layers, HardwareSpace.default().sample(n_pairs, seed).reset_index(drop=True)


def _summary(table: pd.DataFrame) -> dict[str, float]:
    return rank_agreement(table, peer="zz", ours="an")


def cross_check(n_pairs: int = 50, seed: int = 0, settings: OracleSettings = OracleSettings(),
                zigzag: ZigZagOracle | None = None, layers: Sequence[Layer | Op] | None = None) -> dict[str, Any]:
    """Per-layer energy and latency of ZigZag against the analytical oracle on random pairs.

    ``layers``: draw every pair's layer from these (e.g. :func:`attention_matmuls`) instead of the
    default mix of OFA-MobileNetV3 and classic layers.

    Returns ``spearman_energy``, ``spearman_latency``, ``median_ratio_energy`` and
    ``median_ratio_latency`` (ZigZag / analytical), the same four per layer kind and per dataflow
    (``by_kind``, ``by_dataflow``), median ratios per energy term (``term_ratios``), the median
    ZigZag seconds per layer, and ``table``: one row per pair (a DataFrame).
    """
    if n_pairs < 3:
        raise ValueError(f"n_pairs must be at least 3 for a rank correlation, got {n_pairs}")
    layers, hw = _pairs(n_pairs, seed, layers)
    zz = zigzag or ZigZagOracle(settings)
    oracle = Oracle(settings)
    rows = []
    with Progress(transient=True) as progress:
        task = progress.add_task("ZigZag cross-check", total=n_pairs)
        for i, layer in enumerate(layers):
            cfg = hw.iloc[i]
            an = oracle.evaluate_layers(LayerTable.from_rows([LayerTable.row(layer)]), hw.iloc[[i]])
            t0 = time.perf_counter()
            c = zz.layer_cost(layer, cfg)
            rows.append(_row(layer, cfg, an, c, time.perf_counter() - t0))
            progress.advance(task)
    table = pd.DataFrame(rows)
    out: dict[str, Any] = {"n_pairs": n_pairs, "seed": seed, **_summary(table)}
    out["by_kind"] = {k: _summary(g) for k, g in table.groupby("kind") if len(g) >= 3}
    out["by_dataflow"] = {k: _summary(g) for k, g in table.groupby("dataflow") if len(g) >= 3}
    out["term_ratios"] = {t: float(np.median(table[f"{t}_zz_pj"] / table[f"{t}_an_pj"]))
                          for t in ("mac", "rf", "glb", "dram")}
    out["zigzag_seconds_median"] = float(table["zigzag_s"].median())
    out["table"] = table
    return out


def _row(layer: Layer | Op, cfg: pd.Series, an: dict[str, np.ndarray], c, seconds: float) -> dict[str, Any]:
    a = {k: float(v[0, 0]) for k, v in an.items()}
    z = c.zigzag
    return {
        "layer": layer.name, "kind": layer_kind(layer), "macs": layer.macs,
        **{k: cfg[k] for k in cfg.index},
        "energy_zz_mj": c.energy_pj * 1e-9, "energy_an_mj": (a["e_core_pj"] + a["e_bw_pj"]) * 1e-9,
        "latency_zz_ms": c.latency_s * 1e3, "latency_an_ms": a["latency_s"] * 1e3,
        "mac_zz_pj": z.mac_pj, "mac_an_pj": a["e_mac_pj"],
        "rf_zz_pj": z.rf_pj, "rf_an_pj": a["e_rf_pj"],
        "glb_zz_pj": z.glb_pj, "glb_an_pj": a["e_glb_pj"] + a["e_noc_pj"],
        "dram_zz_pj": z.dram_pj, "dram_an_pj": a["e_dram_pj"],
        "cycles_zz": z.latency_cycles, "cycles_an": a["cycles"], "bound_an": _bound(a),
        "mapping_zz": z.spatial_mapping, "zigzag_s": seconds,
    }


def _bound(a: dict[str, float]) -> str:
    times = {"compute": a["compute_s"], "buffer": a["glb_s"], "dram": a["dram_s"]}
    return max(times, key=times.get)


def zigzag_layer_seconds(n_layers: int = 5, seed: int = 0, settings: OracleSettings = OracleSettings()) -> float:
    """Median wall time (s) of one ZigZag layer evaluation, over ``n_layers`` random pairs, uncached."""
    layers, hw = _pairs(n_layers, seed)
    times = []
    for i, layer in enumerate(layers):
        zz = ZigZagOracle(settings)  # a fresh cache: time the evaluation, not the lookup
        t0 = time.perf_counter()
        zz.layer_cost(layer, hw.iloc[i])
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))
