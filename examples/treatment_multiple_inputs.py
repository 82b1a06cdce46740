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
# # treatment_multiple_inputs: the predictor, its training, and finding hardware parameters
#
# The seed's second notebook. It finishes preparing the data, defines the datasets, trains the
# power predictor, then freezes it and regresses the hardware parameters through it (the
# "recover" layer); the last cells test other layer sizes and whether more data is needed.
#
# Every step is a call into `hwpower` (command line equivalents: `hwpower train`, `hwpower
# evaluate`, `hwpower recover`, `hwpower experiment sizes|data`). Set `HWPOWER_EXAMPLES_QUICK=1`
# for a run of a minute or so (one epoch: the predictor is then far from converged).

# %%
import json
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from hwpower.model import NetworkTables, evaluate, evaluation_frame, make_model, train_model, write_evaluation
from hwpower.model.experiments import data_experiment, sizes_experiment
from hwpower.networks import network_from_dict
from hwpower.processing import load_processed, process
from hwpower.search import DescentConfig, RecoverLayer, RecoverQuery, recover
from hwpower.search.run_context import load_context

RAW = Path(os.environ.get("HWPOWER_EXAMPLES_RAW") or ("data/raw" if Path("data/raw").is_dir() else "examples/data/raw"))
OUT = Path(os.environ.get("HWPOWER_EXAMPLES_OUT", "examples-output"))
PROCESSED, RUN = OUT / "processed", OUT / "run"
QUICK = os.environ.get("HWPOWER_EXAMPLES_QUICK") == "1"
EPOCHS = 1 if QUICK else 30
STEPS = 20 if QUICK else 100  # gradient steps of the hardware search

# The processed dataset of process_data (made here if that notebook has not run).
ds = load_processed(PROCESSED) if (PROCESSED / "manifest.json").is_file() else process(RAW, PROCESSED, progress=False)

# %% [markdown]
# ## 1) Load the processed networks and complete the arrays with zero rows
#
# Networks have different numbers of operators (the seed's blocks). Each becomes an array of
# operator features, padded with zero rows up to the longest network, with a mask saying which rows
# are real operators.

# %%
est = make_model("structured", targets=("P_core", "P_bw"), epochs=EPOCHS, device="cpu")
est.setup(ds)  # fits the encoders of steps 2 and 3 on the training split
batch = est.encode_networks(NetworkTables.of(ds))
lengths = batch.mask.sum(dim=1)
print(f"{len(batch.keys)} networks -> array {tuple(batch.x.shape)} (networks, operators, features); "
      f"{int(lengths.min())} to {int(lengths.max())} real operators, the rest zero padding")

# %% [markdown]
# ## 2) Load the hardware parameters and normalize them (the scaler is saved with the model)
#
# Parameters spanning three octaves or more are normalized on a log2 scale; categorical ones are
# one-hot encoded. The encoder is stored in the checkpoint's `meta.json`, not pickled.

# %%
pd.DataFrame([asdict(s) for s in est.hw_encoder_.numeric]).drop(columns="grid")

# %% [markdown]
# ## 3) Normalize the network parameters (the means and standard deviations are saved)

# %%
enc = est.element_encoder_
pd.DataFrame({"feature": enc.numeric, "log1p": enc.log, "mean": enc.mean, "std": enc.std})

# %% [markdown]
# ## 4) Two datasets and two losses: a single output (P) and multiple outputs (P_core, P_bw)
#
# Both models train on the relative error (squared error of log powers). The single-output model
# predicts P; the multiple-output one predicts P_core and P_bw and reports P as their sum.

# %%
single = train_model(ds, "structured", targets=("P",), epochs=EPOCHS, device="cpu", progress=not QUICK, figures=False)
ev_single = evaluate(single, ds)
{split: round(m["P"]["mape_pct"], 2) for split, m in ev_single.splits.items()}

# %% [markdown]
# ## 5) The "recover" layer
#
# After training, the predictor is frozen and the hardware parameters become the learnable
# parameters of a small layer, kept inside the training range by a sigmoid:

# %%
print(RecoverLayer.__doc__)

# %% [markdown]
# ## 6) Define and train the model, with checkpoints and figures
#
# The run folder holds the best and last checkpoints (safetensors + JSON), `history.json`, the
# training curves and a parity plot (`curves.png`, `parity.png`).

# %%
predictor = train_model(ds, "structured", run_dir=RUN, targets=("P_core", "P_bw"), epochs=EPOCHS, device="cpu",
                        progress=not QUICK)
ev = evaluate(predictor, ds)
write_evaluation(ev, RUN)
sorted(p.name for p in RUN.iterdir())

# %% [markdown]
# ## 7) Experiment on the hardware parameters
#
# Take a network of the validation set that training never saw, and the powers it draws on one
# validation accelerator; regress the hardware parameters through the frozen predictor, and verify
# every candidate with the oracle (`oracle_*` columns). The k-means starting points come from
# stats_data's step 3 (computed here once from the training hardware and saved with the run).

# %%
unseen = ds.val[ds.unseen_network_mask()]
row = unseen.iloc[0]
definition = ds.networks.set_index("network").loc[row["network"], "definition"]
query = RecoverQuery(network_from_dict(json.loads(definition)), {"P_core": row["P_core"], "P_bw": row["P_bw"]},
                     str(row["network"]))
ctx = load_context(RUN, PROCESSED, config=DescentConfig(steps=STEPS))
result = recover(ctx, [query], top_k=3, verify=True)
result.save_json(RUN / "search" / "recover.json")  # the report shows it
print("true hardware:", row[ds.hardware_numeric + list(ds.hardware_categorical)].to_dict())
result.candidates

# %% [markdown]
# ## 8) More tests
#
# The multiple-output model's evaluation, on unseen hardware and on unseen networks:

# %%
print(evaluation_frame(ev).to_string(index=False))

# %% [markdown]
# Models of random layer sizes: validation error against the number of parameters.

# %%
sizes = sizes_experiment(ds, n_models=2 if QUICK else 6, seed=0, out_dir=RUN / "experiments", progress=not QUICK,
                         epochs=1 if QUICK else 10, targets=("P_core", "P_bw"), device="cpu")
sizes

# %% [markdown]
# Do we need more data? Train on growing fractions of the training rows: when doubling the data
# stops cutting the error, more data of this kind would help little.

# %%
table, verdict = data_experiment(ds, fractions=(0.5, 1.0) if QUICK else (0.125, 0.25, 0.5, 1.0), seed=0,
                                 out_dir=RUN / "experiments", progress=not QUICK, epochs=1 if QUICK else 10,
                                 targets=("P_core", "P_bw"), device="cpu")
print(verdict.message)
table
