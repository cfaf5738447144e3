"""Bundled data sets (re-exported from :mod:`biogan.data.datasets`)."""

from biogan.data.datasets import (
    bacterial_proteins,
    example_structures,
    ideal_backbones,
    pbmc68k_counts,
    simulated_genotypes,
    stratified_split,
)

__all__ = [
    "bacterial_proteins",
    "example_structures",
    "ideal_backbones",
    "pbmc68k_counts",
    "simulated_genotypes",
    "stratified_split",
]
