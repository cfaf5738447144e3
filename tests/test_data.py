"""Readers, validation and the bundled data."""

from __future__ import annotations

import gzip

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import biogan
from biogan.data import read_cells, write_h5ad
from biogan.errors import InvalidDataError, OutputPathError, UnknownLabelError


def test_pbmc68k_counts_are_integer_counts(pbmc):
    X = pbmc.layers["counts"]
    assert sp.issparse(X) and pbmc.shape == (700, 765)
    assert X.data.min() >= 0 and np.all(X.data == np.rint(X.data))
    assert 0.6 < 1 - X.nnz / np.prod(X.shape) < 0.75  # about 67 % zeros
    assert pbmc.obs["cell_type"].value_counts().min() == 8


def _frame(adata):
    return pd.DataFrame(adata.X.toarray(), index=adata.obs_names, columns=adata.var_names)


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_read_delimited_tables(small, tmp_path, suffix):
    path = tmp_path / f"cells{suffix}"
    _frame(small).to_csv(path, sep="," if suffix == ".csv" else "\t")
    back = read_cells(path)
    assert back.shape == small.shape and list(back.var_names) == list(small.var_names)
    np.testing.assert_array_equal(np.asarray(back.X), small.X.toarray())


def test_read_h5ad_and_10x_mtx_folder(small, tmp_path):
    write_h5ad(small, tmp_path / "cells.h5ad")
    assert read_cells(tmp_path / "cells.h5ad").shape == small.shape
    folder = tmp_path / "mtx"  # Cell Ranger v3 layout: gzipped matrix, features and barcodes
    folder.mkdir()
    with gzip.open(folder / "matrix.mtx.gz", "wb") as fh:
        scipy.io.mmwrite(fh, sp.csr_matrix(small.X.T).astype(np.int64))
    pd.DataFrame({"id": small.var_names, "name": small.var_names, "type": "Gene Expression"}).to_csv(
        folder / "features.tsv.gz", sep="\t", header=False, index=False
    )
    pd.Series(small.obs_names).to_csv(folder / "barcodes.tsv.gz", sep="\t", header=False, index=False)
    back = read_cells(folder)
    assert back.shape == small.shape
    np.testing.assert_array_equal(back.X.toarray(), small.X.toarray())


def test_reader_errors(tmp_path):
    with pytest.raises(InvalidDataError, match="does not exist"):
        read_cells(tmp_path / "missing.h5ad")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(InvalidDataError, match="format"):
        read_cells(tmp_path / "x.xyz")
    (tmp_path / "empty.csv").write_text("cell,g1,g2\n")
    with pytest.raises(InvalidDataError, match="no data"):
        read_cells(tmp_path / "empty.csv")
    (tmp_path / "text.csv").write_text("cell,g1\nc1,abc\n")
    with pytest.raises(InvalidDataError, match="not numeric"):
        read_cells(tmp_path / "text.csv")
    (tmp_path / "broken.h5ad").write_bytes(b"not hdf5 at all")
    with pytest.raises(InvalidDataError, match="cannot read"):
        read_cells(tmp_path / "broken.h5ad")


def _adata(X, labels=None):
    adata = ad.AnnData(X=np.asarray(X, dtype=np.float32))
    if labels is not None:
        adata.obs["cell_type"] = labels
    return adata


@pytest.mark.parametrize(
    ("X", "message"),
    [
        ([[1, np.nan], [2, 3]], "NaN"),
        ([[1, np.inf], [2, 3]], "infinite"),
        ([[1, -2], [2, 3]], "negative"),
        ([[1.5, 2], [2, 3]], "non-integer"),
        (np.zeros((0, 3)), "empty"),
    ],
)
def test_setup_rejects_bad_counts(X, message):
    with pytest.raises(InvalidDataError, match=message):
        biogan.ExpressionGAN.setup_anndata(_adata(X))


def test_non_integer_message_says_where_counts_are(small):
    adata = small.copy()
    adata.X = np.log1p(adata.X.toarray())
    with pytest.raises(InvalidDataError, match="layer='counts'"):
        biogan.ExpressionGAN.setup_anndata(adata)


def test_setup_rejects_missing_layer_and_label_column(small):
    with pytest.raises(InvalidDataError, match="no layer 'raw_counts'"):
        biogan.ExpressionGAN.setup_anndata(small, layer="raw_counts")
    with pytest.raises(UnknownLabelError, match="no column 'celltype'"):
        biogan.ExpressionGAN.setup_anndata(small, layer="counts", labels_key="celltype")


def test_setup_rejects_missing_labels():
    adata = _adata([[1, 2], [3, 4]], labels=pd.Categorical(["a", None]))
    with pytest.raises(InvalidDataError, match="missing labels"):
        biogan.ExpressionGAN.setup_anndata(adata, labels_key="cell_type")


def test_model_needs_setup(small):
    adata = ad.AnnData(X=small.X.copy())
    with pytest.raises(InvalidDataError, match="setup_anndata"):
        biogan.ExpressionGAN(adata)


def test_write_is_atomic_and_reports_unwritable_paths(small, tmp_path):
    target = tmp_path / "out.h5ad"
    target.write_text("previous")
    bad = small.copy()
    bad.uns["unwritable"] = object()  # h5py cannot serialise it: the write fails mid-way
    with pytest.raises(Exception):  # noqa: B017 - whatever anndata raises, the old file must survive
        write_h5ad(bad, target)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5ad"]  # no temp files left behind
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="cannot write"):
        write_h5ad(small, blocker / "sub" / "out.h5ad")
