"""Pictures of real against synthetic data; every function returns a matplotlib Figure."""

from biogan.plot.expression import (
    correlation_heatmaps,
    embedding,
    gene_mean_variance_scatter,
    library_and_zero_histograms,
    marker_dotplot,
    training_curves,
)

__all__ = [
    "correlation_heatmaps",
    "embedding",
    "gene_mean_variance_scatter",
    "library_and_zero_histograms",
    "marker_dotplot",
    "training_curves",
]
