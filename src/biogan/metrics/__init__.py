"""Honest quality metrics: each is reported next to the same number for real vs real data."""

from biogan.metrics.expression import compare_counts, evaluate_counts
from biogan.metrics.suite import METRICS, evaluate, evaluate_many
from biogan.metrics.two_sample import c2st_auc, joint_pca, mmd_rbf

__all__ = [
    "METRICS",
    "c2st_auc",
    "compare_counts",
    "evaluate",
    "evaluate_counts",
    "evaluate_many",
    "joint_pca",
    "mmd_rbf",
]
