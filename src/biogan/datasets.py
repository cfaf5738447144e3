"""Bundled data sets (re-exported from :mod:`biogan.data.datasets`)."""

from biogan.data.datasets import pbmc68k_counts, stratified_split

__all__ = ["pbmc68k_counts", "stratified_split"]
