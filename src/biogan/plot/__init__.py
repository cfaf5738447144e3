"""Pictures of real against synthetic data; every function returns a matplotlib Figure."""

from biogan.plot.expression import (
    correlation_heatmaps,
    embedding,
    gene_mean_variance_scatter,
    library_and_zero_histograms,
    marker_dotplot,
    training_curves,
)
from biogan.plot.tables import column_correlations, column_distributions, row_pca

__all__ = [
    "column_correlations",
    "column_distributions",
    "correlation_heatmaps",
    "embedding",
    "gene_mean_variance_scatter",
    "library_and_zero_histograms",
    "marker_dotplot",
    "row_pca",
    "training_curves",
]
