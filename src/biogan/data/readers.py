"""Read cells x genes count data from the formats single-cell tools write, and plain tables.

Cells end as an :class:`anndata.AnnData` (scanpy's readers do the parsing); tables (.csv/.tsv) as a
pandas DataFrame. Writers are atomic.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from biogan._utils import atomic_write
from biogan.data.ondisk import STORE_SUFFIXES, BackedCells
from biogan.data.validation import check_memory, make_names_unique
from biogan.errors import InvalidDataError

# What a damaged file raises while it is parsed: h5py and gzip (OSError; h5py also RuntimeError for a
# corrupt group table, "bad symbol table node signature"), a truncated stream (EOFError, which click
# would otherwise turn into a bare "Aborted."), a corrupt deflate block, bad text or layout.
READ_ERRORS = (OSError, RuntimeError, EOFError, zlib.error, ValueError, KeyError, pd.errors.ParserError)


def read_cells(path: str | os.PathLike, backed: bool = False) -> ad.AnnData | BackedCells:
    """Read ``.h5ad``, an AnnData ``.zarr`` store, 10x ``.h5``, a 10x ``mtx`` folder, or a ``.csv``/``.tsv``
    (cells x genes).

    CSV/TSV files have cell names in the first column and gene names in the header. Duplicated gene
    or cell names are made unique with a warning that says which were renamed.

    Parameters
    ----------
    path
        The file or folder.
    backed
        Keep the matrices of a ``.h5ad`` / ``.zarr`` on disk (:class:`~biogan.data.ondisk.BackedCells`):
        only ``obs`` and ``var`` are loaded, counts are read in row blocks while training.

    Raises
    ------
    InvalidDataError
        Unreadable input, or an in-memory read whose matrix would not fit in the memory available (the
        message suggests ``--backed``).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidDataError(f"input {path} does not exist")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if backed:
        if not suffixes.endswith(STORE_SUFFIXES):
            raise InvalidDataError(f"--backed reads .h5ad files and .zarr stores, not {path.name}")
        try:
            cells = BackedCells(path)
        except READ_ERRORS as err:
            raise InvalidDataError(f"cannot read {path}: {_reason(err)}") from None
        make_names_unique(cells, str(path))
        return cells
    try:
        if suffixes.endswith(STORE_SUFFIXES):  # sized from the metadata before anything is loaded
            check_memory(
                stored_matrix_bytes(path),
                f"reading {path.name} into memory",
                "train with --backed (counts stay on disk), or keep fewer genes",
            )
        if suffixes.endswith(".zarr"):
            adata = ad.read_zarr(path)
        elif path.is_dir():
            adata = sc.read_10x_mtx(path)
        elif suffixes.endswith(".h5ad"):
            adata = ad.read_h5ad(path)
        elif suffixes.endswith(".h5"):
            adata = sc.read_10x_h5(path)
        elif suffixes.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")):
            sep = "," if ".csv" in suffixes else "\t"
            frame = pd.read_csv(path, sep=sep, index_col=0)
            adata = _frame_to_anndata(frame, path)
        else:
            raise InvalidDataError(
                f"cannot tell the format of {path}: use .h5ad, 10x .h5, a 10x mtx folder, .csv or .tsv"
            )
    except InvalidDataError:
        raise
    except READ_ERRORS as err:
        raise InvalidDataError(f"cannot read {path}: {_reason(err)}") from None
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InvalidDataError(f"{path} holds no data (shape {adata.shape})")
    make_names_unique(adata, str(path))
    return adata


def stored_matrix_bytes(path: str | os.PathLike) -> float:
    """Bytes that ``.X`` and every layer of an ``.h5ad`` / ``.zarr`` take once loaded (CSR: 8 bytes a stored
    value plus row pointers; dense: 4 bytes an entry, float32), read from the file's metadata alone."""
    from biogan.data.ondisk import OnDiskMatrix

    root_keys = BackedCells.matrix_keys(path)
    total = 0.0
    for key in root_keys:
        matrix = OnDiskMatrix(path, key)
        if matrix.format == "csr":
            total += 8.0 * matrix.stored_count() + 8.0 * (matrix.n_rows + 1)
        else:
            total += 4.0 * matrix.n_rows * matrix.n_columns
    return total


def _reason(err: BaseException) -> str:
    """One line about why a read failed (a truncated stream says nothing by itself)."""
    if isinstance(err, EOFError):
        return f"the file ends early, it is truncated ({err})"
    return " ".join(str(err).split()) or type(err).__name__


def _frame_to_anndata(frame: pd.DataFrame, path: Path) -> ad.AnnData:
    if frame.empty:
        raise InvalidDataError(f"{path} holds no data")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise InvalidDataError(
            f"{path}: columns {non_numeric[:5]} are not numeric; a count table has cells as rows, "
            "genes as columns and the cell names in the first column"
        )
    return ad.AnnData(
        X=frame.to_numpy(dtype=np.float32),
        obs=pd.DataFrame(index=frame.index.astype(str)),
        var=pd.DataFrame(index=frame.columns.astype(str)),
    )


def write_h5ad(adata: ad.AnnData, path: str | os.PathLike) -> Path:
    """Write ``adata`` to ``path`` atomically (temp file + rename)."""
    return atomic_write(path, lambda tmp: adata.write_h5ad(tmp), suffix=".h5ad")


TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


def table_separator(path: str | os.PathLike) -> str:
    """The field separator of a .csv / .tsv / .txt table; other suffixes raise."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SEPARATORS:
        raise InvalidDataError(f"cannot tell the format of {path}: use .csv or .tsv")
    return TABLE_SEPARATORS[suffix]


def read_table(path: str | os.PathLike, index: bool = True) -> pd.DataFrame:
    """A .csv/.tsv table (first column = row names when ``index``); empty cells and NA become missing."""
    path = Path(path)
    if not path.exists():
        raise InvalidDataError(f"input {path} does not exist")
    try:
        return pd.read_csv(path, sep=table_separator(path), index_col=0 if index else None)
    except READ_ERRORS as err:
        raise InvalidDataError(f"cannot read {path}: {_reason(err)}") from None


def write_table(frame: pd.DataFrame, path: str | os.PathLike, index: bool = True) -> Path:
    """Write ``frame`` as .csv/.tsv atomically (a crash never leaves a half-written file)."""
    sep = table_separator(path)
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, sep=sep, index=index), suffix=Path(path).suffix)
