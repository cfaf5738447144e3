"""Pictures of real against synthetic data; every function returns a matplotlib Figure."""

from biogan.plot.compositions import (
    clr_pca,
    condition_curves,
    mean_composition_bars,
    shannon_histograms,
)
from biogan.plot.expression import (
    correlation_heatmaps,
    embedding,
    gene_mean_variance_scatter,
    library_and_zero_histograms,
    marker_dotplot,
    training_curves,
)
from biogan.plot.sequences import (
    composition_bars,
    kmer_scatter,
    length_histogram,
    novelty_histogram,
    sequence_logo,
)
from biogan.plot.tables import column_correlations, column_distributions, row_pca

__all__ = [
    "clr_pca",
    "column_correlations",
    "column_distributions",
    "composition_bars",
    "condition_curves",
    "correlation_heatmaps",
    "embedding",
    "gene_mean_variance_scatter",
    "kmer_scatter",
    "length_histogram",
    "library_and_zero_histograms",
    "marker_dotplot",
    "mean_composition_bars",
    "novelty_histogram",
    "row_pca",
    "sequence_logo",
    "shannon_histograms",
    "training_curves",
]
