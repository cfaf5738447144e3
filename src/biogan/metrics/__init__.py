"""Honest quality metrics: each is reported next to the same number for real vs real data.

:func:`evaluate` dispatches on the data kind (:data:`METRIC_SETS`: cells, tables, sequences,
genotypes, structures); importing this package registers every kind's metric set with the engine.
"""

from biogan.metrics import compositions, counts, genotypes, sequences, structures, tables
from biogan.metrics.counts import evaluate_counts
from biogan.metrics.engine import METRIC_SETS, METRICS, evaluate, evaluate_many, kind_of, verdict
from biogan.metrics.two_sample import c2st_auc, joint_pca, mmd_rbf

__all__ = [
    "METRICS",
    "METRIC_SETS",
    "c2st_auc",
    "compositions",
    "counts",
    "evaluate",
    "evaluate_counts",
    "evaluate_many",
    "genotypes",
    "joint_pca",
    "kind_of",
    "mmd_rbf",
    "sequences",
    "structures",
    "tables",
    "verdict",
]
