# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # process_data: from raw files to the processed dataset
#
# The seed's first notebook. It reads two kinds of raw files:
#
# * **`nets_*.json`**: the neural networks identified by a number, each an operator graph (or, for the
#   OFA space, a sequence of blocks that expands into operators);
# * **`train_*.txt` / `val_*.txt`**: hardware parameters, the network used and the power measured.
#
# and turns them into one processed dataset. Unlike the seed, which copied every processed network
# into every sample row, each network is stored **once** and samples refer to it by key
# (`STEM/ID`). Every step below is one call into `hwpower`; the command line equivalent is
# `hwpower process examples/data/raw --out examples-output/processed`.

# %%
import os
from pathlib import Path

from hwpower.networks import read_networks
from hwpower.processing import dataset_summary, load_processed, process

# The embedded default data, whether this runs from the repository root or from examples/.
RAW = Path(os.environ.get("HWPOWER_EXAMPLES_RAW") or ("data/raw" if Path("data/raw").is_dir() else "examples/data/raw"))
OUT = Path(os.environ.get("HWPOWER_EXAMPLES_OUT", "examples-output"))
PROCESSED = OUT / "processed"
sorted(p.name for p in RAW.iterdir())

# %% [markdown]
# ## 1) Gather every training (resp. validation) file into one table, every network into a dictionary
#
# `process` merges the shards (`train_0.txt`, `train_1.txt`, ...) in natural order and parses every
# nets file; errors name the file and line. The networks of one file form a dictionary keyed by id.

# %%
for path in sorted(RAW.glob("nets_*.json")):
    nets = read_networks(path)
    first = nets[min(nets)]
    parts = f"{len(first.ops)} operators" if hasattr(first, "ops") else f"{len(first.blocks)} blocks"
    print(f"{path.name}: {len(nets)} networks; network {min(nets)} has {parts}")

ds = process(RAW, PROCESSED, progress=False)
ds.train.head()

# %% [markdown]
# ## 2) Normalize the columns that link samples to networks, and retrieve useful information
#
# The `network` column of every sample becomes the key `STEM/ID` of a row of the networks table;
# the schema that was read (inferred from the header here) and the column roles are in the manifest.

# %%
print("schema inferred:", ds.manifest["schema"]["inferred"])
ds.manifest["columns"]

# %% [markdown]
# ## 3) Compute useful information about the networks (#FLOPs, #weights, ...)
#
# MACs, FLOPs (= 2 MACs), other operations, weights, activations and depth per network, per block
# and per layer (conventions in docs/data-format.md).

# %%
ds.networks[["network", "input_resolution", "n_ops", "n_blocks", "macs", "flops", "weights", "depth"]].head(10)

# %%
ds.ops.head()

# %% [markdown]
# ## 4) Save the processed training and validation data
#
# `process(..., out_dir)` already wrote the Parquet tables and the manifest atomically; loading them
# back gives the same dataset. The summary shows row counts, networks seen only in validation (the
# unseen-network split) and the range of every column.

# %%
again = load_processed(PROCESSED)
assert again.train.equals(ds.train) and again.networks.equals(ds.networks)
sorted(p.name for p in PROCESSED.iterdir())

# %%
print(dataset_summary(again).to_string(index=False))
