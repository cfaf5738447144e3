"""Readers, validation, preprocessing and bundled data sets."""

from biogan.data.anndata import CountData, append_cells, as_stored_like, counts_anndata, setup_anndata
from biogan.data.datasets import pbmc68k_counts, stratified_split
from biogan.data.preprocessing import log_normalize
from biogan.data.readers import read_cells, read_table, write_h5ad, write_table
from biogan.data.validation import check_counts

__all__ = [
    "CountData",
    "append_cells",
    "as_stored_like",
    "check_counts",
    "counts_anndata",
    "log_normalize",
    "pbmc68k_counts",
    "read_cells",
    "read_table",
    "setup_anndata",
    "stratified_split",
    "write_h5ad",
    "write_table",
]
