"""Registering an AnnData with biogan (scvi-tools style) and pulling a validated count matrix from it."""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from biogan.data.validation import check_counts
from biogan.errors import GeneMismatchError, InvalidDataError, UnknownLabelError

SETUP_KEY = "_biogan"


def get_matrix(adata: ad.AnnData, layer: str | None) -> np.ndarray | sp.spmatrix:
    """``adata.layers[layer]`` or ``adata.X``, with a clear error for a missing layer."""
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        have = ", ".join(adata.layers.keys()) or "none"
        raise InvalidDataError(f"AnnData has no layer {layer!r} (layers: {have}); pass layer=None to use .X")
    return adata.layers[layer]


def _counts_hint(adata: ad.AnnData, layer: str | None) -> str:
    others = [name for name in adata.layers if name != layer]
    if others:
        return (
            f"Pass the layer that holds raw counts, e.g. layer={others[0]!r} (layers: {', '.join(others)})."
        )
    if adata.raw is not None:
        return "adata.raw may hold them: try adata.raw.to_adata()."
    return "Store raw counts in adata.layers['counts'] and pass layer='counts'."


def check_labels(adata: ad.AnnData, labels_key: str | None) -> None:
    """Raise if ``labels_key`` is not a usable categorical ``obs`` column."""
    if labels_key is None:
        return
    if labels_key not in adata.obs.columns:
        have = ", ".join(map(str, adata.obs.columns[:20])) or "none"
        raise UnknownLabelError(f"obs has no column {labels_key!r} (columns: {have})")
    missing = int(adata.obs[labels_key].isna().sum())
    if missing:
        raise InvalidDataError(f"obs[{labels_key!r}] has {missing} missing labels; drop or fill those cells")


def setup_anndata(adata: ad.AnnData, layer: str | None = None, labels_key: str | None = None) -> None:
    """Check ``adata`` and record which layer holds counts and which ``obs`` column holds labels.

    Parameters
    ----------
    adata
        Cells x genes.
    layer
        Layer with raw integer counts (``None``: ``adata.X``).
    labels_key
        Categorical ``obs`` column to condition on (cell type, condition, batch); ``None`` trains an
        unconditional model.
    """
    what = f"layer {layer!r}" if layer else "adata.X"
    check_counts(get_matrix(adata, layer), what, hint=_counts_hint(adata, layer))
    check_labels(adata, labels_key)
    adata.uns[SETUP_KEY] = {"layer": layer or "", "labels_key": labels_key or ""}


def registered_keys(adata: ad.AnnData) -> tuple[str | None, str | None]:
    """The ``(layer, labels_key)`` that :func:`setup_anndata` stored."""
    if SETUP_KEY not in adata.uns:
        raise InvalidDataError(
            "call biogan.ExpressionGAN.setup_anndata(adata, layer=..., labels_key=...) first"
        )
    reg = adata.uns[SETUP_KEY]
    return reg["layer"] or None, reg["labels_key"] or None


@dataclass
class CountData:
    """A validated cells x genes count matrix (CSR, never densified whole) with integer class codes."""

    X: sp.csr_matrix
    codes: np.ndarray
    categories: list[str]
    genes: list[str]

    @classmethod
    def from_anndata(
        cls,
        adata: ad.AnnData,
        layer: str | None,
        labels_key: str | None,
        categories: list[str] | None = None,
        genes: list[str] | None = None,
    ) -> CountData:
        """Pull counts and labels; ``categories``/``genes`` pin the coding to an existing model's."""
        what = f"layer {layer!r}" if layer else "adata.X"
        X = get_matrix(adata, layer)
        check_counts(X, what, hint=_counts_hint(adata, layer))
        check_labels(adata, labels_key)
        if genes is not None and list(adata.var_names) != list(genes):
            missing = [g for g in genes if g not in set(adata.var_names)]
            raise GeneMismatchError(
                f"the data's genes do not match the model's ({adata.n_vars} vs {len(genes)} genes, "
                f"{len(missing)} of the model's missing, e.g. {missing[:3]}); subset to model.genes first"
            )
        labels = (
            pd.Series(["all"] * adata.n_obs)
            if labels_key is None
            else adata.obs[labels_key].astype(str).reset_index(drop=True)
        )
        if categories is None:
            categories = sorted(labels.unique())
        unknown = sorted(set(labels) - set(categories))
        if unknown:
            raise UnknownLabelError(f"labels {unknown[:5]} are not among the model's labels {categories}")
        codes = pd.Categorical(labels, categories=categories).codes.astype(np.int64)
        csr = sp.csr_matrix(X, dtype=np.float32)
        return cls(X=csr, codes=codes, categories=list(categories), genes=list(adata.var_names))

    @property
    def n_cells(self) -> int:
        return self.X.shape[0]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Dense float32 rows for a minibatch."""
        return self.X[index].toarray()
