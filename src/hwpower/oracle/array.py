"""Mapping on the PE array (cycles, utilisation) and the overlap of compute with DRAM transfers.

Spatial mapping (cost.py's Geometry): dimension D1 on the R rows, D2 on the C columns, T in time.
The array processes ``fold1 * fold2 * tiles_per_fold`` tiles; each tile streams its time steps
through a systolic pipeline whose skew costs R + C - 2 cycles per tile (the first operand enters
one corner, the last result leaves the opposite corner: SCALE-Sim's per-fold cycle count
2 Sr + Sc + T - 2, Samajdar et al., "SCALE-Sim", arXiv 1811.02883 / ISPASS 2020, of which the Sr
cycles of loading the stationary operand are hidden when the register file holds a second one,
h >= 2, as the TPU's double-buffered weight FIFO does; Jouppi et al., ISCA 2017).

- weight stationary: a tile holds one fold of weights of one group and streams that group's PQ
  output positions: G * fold1 * fold2 tiles of PQ steps. A depthwise layer (Cg = Kg = 1) fills
  R*S rows of one column (one input stream per column: the channels cannot share it).
- output stationary: a tile holds one fold of outputs and streams the reduction Cg*R*S:
  fold1 * fold2 tiles of T steps.

No per-layer configuration time is charged: accelerators double-buffer their configuration
registers so the next layer's is loaded while the current one runs (NVDLA hardware architecture
specification, nvdla.org/hw/v1/hwarch.html, "Functional Description").

Overlap (a stated model, not Timeloop's perfect overlap): an operator's DRAM traffic is moved in
``n`` tiles of half the buffer (the tiling of cost.py), double-buffered against compute (the
other half receives the next tile). A two-stage pipeline of n equal tiles takes
max(compute, DRAM) + min(compute, DRAM) / n: the first tile's load (or the last tile's compute) is
not hidden. n = max(DRAM words / half-buffer words, 1), counted fractionally (a last partial tile
counts in proportion): with a whole count, one more word of traffic could add a tile and shorten
the exposed part, so latency could fall as the work grows. Traffic that fits one tile is not
overlapped at all (load, compute, write back); a larger buffer makes larger tiles and exposes
more. ZigZag likewise overlaps transfers only when a tile fits half a memory (docs/oracle.md,
"Where they disagree", item 3).
"""

from __future__ import annotations

import numpy as np

SKEW_ROWS_COLS = 1.0  # skew cycles per row and per column of the array (R + C - 2 per tile)


def mac_cycles(d1, d2, t, tiles_per_fold, rows, cols, rf_words):
    """Cycles of the MAC part of an operator on an R x C array (fold and skew losses included).

    ``t`` is the total time steps (all tiles of a fold together); ``tiles_per_fold`` splits it.
    A stationary reload of R cycles is added per tile when the register file cannot hold a second
    stationary value (``rf_words`` - 2 < 2)."""
    fold1, fold2 = np.ceil(d1 / rows), np.ceil(d2 / cols)
    per_tile = SKEW_ROWS_COLS * (rows + cols - 2) + rows * (rf_words - 2 < 2)
    tiles = fold1 * fold2 * tiles_per_fold * (t > 0)
    return fold1 * fold2 * t + tiles * per_tile


def utilisation(macs, cycles, rows, cols):
    """MACs per PE per cycle over the operator's MAC cycles (0 for operators without MACs)."""
    return np.where(cycles > 0, macs / (rows * cols * np.maximum(cycles, 1)), 0.0)


def overlapped_latency(compute_s, dram_s, n_tiles):
    """Two-stage pipeline of ``n_tiles`` double-buffered tiles: max + min / n (module docstring).
    Never below either bound, never above their sum; non-decreasing in both times."""
    return np.maximum(compute_s, dram_s) + np.minimum(compute_s, dram_s) / n_tiles
