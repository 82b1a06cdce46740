"""Analysis and report: the seed's stats_data and stats_by_network notebooks, and ``hwpower report``."""

from .build import STARTS_FILE, build_report, build_stats, space_of
from .data_stats import hardware_pca, pca_figure, power_histograms, power_summary
from .kmeans import centroids_table, hardware_kmeans, kmeans_figure, kmeans_scores
from .network_stats import (error_correlations, error_vs_features_figure, errors_by_network,
                            errors_by_network_figure, power_by_network, power_by_network_figure, val_errors)
from .predictor import predict_val

__all__ = [
    "STARTS_FILE", "build_report", "build_stats", "centroids_table", "error_correlations",
    "error_vs_features_figure", "errors_by_network", "errors_by_network_figure", "hardware_kmeans",
    "hardware_pca", "kmeans_figure", "kmeans_scores", "pca_figure", "power_by_network",
    "power_by_network_figure", "power_histograms", "power_summary", "predict_val", "space_of", "val_errors",
]
