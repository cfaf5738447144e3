"""Compatibility module: the evaluation engine and the count metric set under their former home.

New code imports :mod:`biogan.metrics.engine` (the type-agnostic driver, registries and verdicts) and
:mod:`biogan.metrics.counts` (cells) or :mod:`biogan.metrics.tables` (tables).
"""

from __future__ import annotations

from biogan.metrics.counts import (
    MIN_CELLS_PER_LABEL,
    Cells,
    CountsLike,
    cells_from,
    correlation_difference,
    energy_distance,
    gene_names,
    knn_label_purity,
    marker_genes,
    prdc,
    relation_error,
    top_variable_genes,
)
from biogan.metrics.engine import (
    COLUMNS,
    METRICS,
    OVERALL,
    MetricInfo,
    distance_to_closest_record,
    evaluate,
    evaluate_many,
    verdict,
)

__all__ = [
    "COLUMNS",
    "METRICS",
    "MIN_CELLS_PER_LABEL",
    "OVERALL",
    "Cells",
    "CountsLike",
    "MetricInfo",
    "cells_from",
    "correlation_difference",
    "distance_to_closest_record",
    "energy_distance",
    "evaluate",
    "evaluate_many",
    "gene_names",
    "knn_label_purity",
    "marker_genes",
    "prdc",
    "relation_error",
    "top_variable_genes",
    "verdict",
]
