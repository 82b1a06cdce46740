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
# # stats_by_network: power and predictor error per network
#
# The seed's fourth notebook: how P_bw and P_core are spread per network, how well the predictor
# does per validation network, and whether its error depends on the network's size (#FLOPs,
# #weights, depth, input resolution), separately for unseen hardware (networks seen in training)
# and unseen networks. It uses the run trained in treatment_multiple_inputs, and ends with the
# whole report (`hwpower report PROCESSED --run RUN --out REPORT`).

# %%
import os
from pathlib import Path

from hwpower.processing import load_processed
from hwpower.report import (build_report, error_correlations, error_vs_features_figure, errors_by_network,
                            errors_by_network_figure, power_by_network, power_by_network_figure, predict_val,
                            val_errors)

OUT = Path(os.environ.get("HWPOWER_EXAMPLES_OUT", "examples-output"))
PROCESSED, RUN = OUT / "processed", OUT / "run"
ds = load_processed(PROCESSED)  # from process_data; RUN from treatment_multiple_inputs

# %% [markdown]
# ## 1) P_bw and P_core per network, in the train and val datasets
#
# Median and inter-quartile range per network; networks in val only are the unseen networks.

# %%
by_network = power_by_network(ds)
by_network.head()

# %%
fig = power_by_network_figure(by_network)
fig

# %% [markdown]
# ## 2) The predictor's performance per network of the val dataset

# %%
predictions = predict_val(RUN, ds)
predicted_p = predictions["P"]  # P_core + P_bw for the multiple-output model
per_network = errors_by_network(ds, val_errors(ds, predicted_p))
per_network.groupby("split")["mape_pct"].describe()

# %%
fig = errors_by_network_figure(per_network)
fig

# %% [markdown]
# ## 3) Performance against #FLOPs, #weights, depth and input resolution
#
# Spearman's rank correlation between a network's error and its size, per split: a positive rho
# means larger networks are predicted worse. With tens of networks only strong effects are
# significant (see the p-values).

# %%
correlations = error_correlations(per_network)
correlations

# %%
fig = error_vs_features_figure(per_network, correlations)
fig

# %% [markdown]
# ## The report
#
# Everything above, the data statistics, the evaluation, the experiments and the search results of
# the run, in one self-contained HTML page with the figures as PNG and the tables as CSV beside it.

# %%
page = build_report(PROCESSED, OUT / "report", RUN, predictions=predictions, progress=False)
print(f"report: {page}")
