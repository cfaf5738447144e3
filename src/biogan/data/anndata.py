"""Registering an AnnData with biogan (scvi-tools style) and pulling a validated count matrix from it."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from biogan.data.ondisk import BackedCells, OnDiskMatrix, is_on_disk
from biogan.data.validation import (
    check_count_range,
    check_counts,
    check_enough,
    check_no_missing_labels,
    check_training_labels,
    make_names_unique,
)
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
    check_no_missing_labels(adata.obs[labels_key], labels_key, "cell")


def check_training_cells(
    adata: ad.AnnData, X: Any, what: str, labels_key: str | None, allow_large_counts: bool
) -> None:
    """The rules for cells a model trains on (:mod:`biogan.data.validation`): counts within int32,
    at least ``MIN_SAMPLES`` cells, labels present, not continuous and without one-cell classes."""
    check_labels(adata, labels_key)
    check_count_range(X, what, allow_large_counts)
    check_enough(adata.n_obs, "the training data", "cell")
    if labels_key is not None:
        check_training_labels(adata.obs[labels_key], labels_key, "cell")


def setup_anndata(
    adata: ad.AnnData,
    layer: str | None = None,
    labels_key: str | None = None,
    allow_large_counts: bool = False,
) -> None:
    """Check ``adata`` and record which layer holds counts and which ``obs`` column holds labels.

    Parameters
    ----------
    adata
        Cells x genes, in memory or with its matrices on disk (:class:`~biogan.data.ondisk.BackedCells`,
        checked one row block at a time).
    layer
        Layer with raw integer counts (``None``: ``adata.X``).
    labels_key
        Categorical ``obs`` column to condition on (cell type, condition, batch); ``None`` trains an
        unconditional model.
    allow_large_counts
        Accept counts above 2^31 - 1 (refused by default: no sequencing run yields them per gene).

    Raises
    ------
    InvalidDataError
        Counts that are not raw integers or beyond int32, fewer than 10 cells, missing labels, a label
        column that looks continuous, or a class with a single cell.

    Warns
    -----
    UserWarning
        Duplicated gene or cell names, renamed in place (the warning says which).
    """
    what = f"layer {layer!r}" if layer else "adata.X"
    X = get_matrix(adata, layer)
    check_counts(X, what, hint=_counts_hint(adata, layer))
    check_training_cells(adata, X, what, labels_key, allow_large_counts)
    make_names_unique(adata, "the AnnData")
    adata.uns[SETUP_KEY] = {
        "layer": layer or "",
        "labels_key": labels_key or "",
        "allow_large_counts": bool(allow_large_counts),
    }


def keep_variable_genes(
    adata: ad.AnnData | BackedCells, n_top_genes: int, layer: str | None = None
) -> ad.AnnData | BackedCells:
    """The ``n_top_genes`` most variable genes of ``adata`` (Seurat's dispersion rule on the counts in
    ``layer``, one streamed pass; :func:`~biogan.data.preprocessing.highly_variable_genes`).

    In memory this is a subset copy; for :class:`~biogan.data.ondisk.BackedCells` the selection is applied
    to every row block as it is read, so the file is never rewritten.
    """
    from biogan.data.preprocessing import highly_variable_genes

    X = get_matrix(adata, layer)
    check_counts(X, f"layer {layer!r}" if layer else "adata.X", hint=_counts_hint(adata, layer))
    genes = highly_variable_genes(X, n_top_genes)
    if isinstance(adata, BackedCells):
        return adata.select_genes(genes)
    return adata[:, genes].copy()


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
    """A validated cells x genes count matrix (CSR in memory, or read from disk by row blocks; never
    densified whole) with integer class codes."""

    X: sp.csr_matrix | OnDiskMatrix
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
        allow_large_counts: bool | None = None,
    ) -> CountData:
        """Pull counts and labels; ``categories``/``genes`` pin the coding to an existing model's.

        Without ``categories`` the cells are training data and get the training rules
        (:func:`check_training_cells`); ``allow_large_counts=None`` takes what :func:`setup_anndata`
        recorded.
        """
        what = f"layer {layer!r}" if layer else "adata.X"
        X = get_matrix(adata, layer)
        check_counts(X, what, hint=_counts_hint(adata, layer))
        if categories is None:
            if allow_large_counts is None:
                allow_large_counts = bool(adata.uns.get(SETUP_KEY, {}).get("allow_large_counts", False))
            check_training_cells(adata, X, what, labels_key, allow_large_counts)
        else:
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
        matrix = X if is_on_disk(X) else sp.csr_matrix(X, dtype=np.float32)  # on disk: read by blocks
        return cls(X=matrix, codes=codes, categories=list(categories), genes=list(adata.var_names))

    @property
    def n_cells(self) -> int:
        return self.X.shape[0]

    @property
    def zero_fraction(self) -> float:
        """Share of zero entries (what the CSR output of sampling is sized by)."""
        n_values = self.X.shape[0] * self.X.shape[1]
        if not n_values:
            return 0.0
        stored = self.X.stored_count() if is_on_disk(self.X) else np.count_nonzero(self.X.data)
        return float(1 - stored / n_values)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Dense float32 rows for a minibatch."""
        return self.X.take(index) if is_on_disk(self.X) else self.X[index].toarray()


# ---------------------------------------------------------------------- AnnData that biogan returns
_BLOCK_ROWS = 2048  # rows densified at a time when a layer is compared with the counts


def counts_anndata(
    counts: np.ndarray | sp.spmatrix,
    obs: pd.DataFrame,
    var_names: Sequence[str],
    like: ad.AnnData | None = None,
    counts_layer: str | None = "counts",
    uns: dict[str, Any] | None = None,
) -> ad.AnnData:
    """Cells with raw ``counts``: the same finite counts in ``.X`` and in ``layers[counts_layer]``.

    Every AnnData of counts that biogan returns or writes (``sample``, ``augment``, ``demo``) is built here.

    Parameters
    ----------
    counts
        Cells x genes raw counts (sparse or dense); must be finite.
    obs
        One row per cell (its index becomes ``obs_names``).
    var_names
        Gene names.
    like
        Reference AnnData: ``.X`` takes the dtype and storage (dense, CSR, CSC, ...) of ``like.X`` and
        the counts layer those of ``like.layers[counts_layer]`` (of ``like.X`` when it has no such layer).
        ``None``: float32 CSR for both.
    counts_layer
        Layer that also holds the counts (``None``: only ``.X``).
    uns
        Unstructured metadata to store.

    Returns
    -------
    AnnData
        ``.X`` and ``layers[counts_layer]`` are separate copies of the same values.
    """
    _check_finite(counts, "counts")
    if counts.shape != (len(obs), len(var_names)):
        raise InvalidDataError(
            f"counts have shape {counts.shape} but obs has {len(obs)} rows and there are "
            f"{len(var_names)} genes"
        )
    x_ref = like.X if like is not None else None
    layer_ref = x_ref
    if like is not None and counts_layer is not None and counts_layer in like.layers:
        layer_ref = like.layers[counts_layer]
    out = ad.AnnData(
        X=as_stored_like(counts, x_ref), obs=obs.copy(), var=pd.DataFrame(index=[str(g) for g in var_names])
    )
    if counts_layer is not None:
        out.layers[counts_layer] = as_stored_like(counts, layer_ref)
    if uns:
        out.uns.update(uns)
    return out


def as_stored_like(M: Any, ref: Any) -> np.ndarray | sp.spmatrix:
    """A copy of ``M`` with the dtype and storage of ``ref`` (float32 CSR when ``ref`` is not a
    numpy or scipy matrix); integer dtypes get rounded values."""
    if sp.issparse(ref):
        kind, dtype = type(ref), ref.dtype
    elif isinstance(ref, np.ndarray) and ref.dtype.kind in "fiub":
        kind, dtype = np.ndarray, ref.dtype
    else:
        kind, dtype = sp.csr_matrix, np.dtype(np.float32)
    if dtype.kind in "iub":
        M = M.copy() if sp.issparse(M) else np.array(M, dtype=np.float64)
        if sp.issparse(M):
            M.data = np.rint(M.data)
        else:
            M = np.rint(M)
    if kind is np.ndarray:
        return np.array(M.toarray() if sp.issparse(M) else M, dtype=dtype)
    return kind(M, dtype=dtype, copy=True)


def append_cells(
    adata: ad.AnnData, counts: np.ndarray | sp.spmatrix, obs: pd.DataFrame, counts_layer: str | None
) -> tuple[ad.AnnData, dict[str, str]]:
    """``adata``'s cells, unchanged, followed by new cells with raw ``counts``, matrix by matrix.

    For the new cells the counts go into the counts matrix (``layers[counts_layer]``, or ``.X`` when
    ``counts_layer`` is ``None``). Every other matrix of ``adata`` (``.X`` and each layer) is checked
    numerically on the real cells: one that equals the counts, ``log1p(counts normalised to a total)``
    or ``counts normalised to a total`` is computed the same way for the new cells. Layers made some
    other way are dropped, as are ``obsm``, ``obsp`` and ``raw`` (nothing to fill them with for new
    cells); ``.X`` made some other way gets the counts for the new cells. One warning names all of these.
    Nothing is ever filled with NaN; every kept matrix keeps its dtype and storage, and the real cells'
    values bit-for-bit.

    Parameters
    ----------
    adata
        The real cells.
    counts
        New cells x ``adata.n_vars`` raw counts (finite).
    obs
        ``obs`` of the new cells (index: their names); columns missing here are left missing.
    counts_layer
        The layer of ``adata`` with raw counts (``None``: ``.X``).

    Returns
    -------
    AnnData, dict
        The combined cells, and how each matrix of the new cells was made (``{"X": "counts",
        "layers['log']": "log1p(counts normalised to 10000)"}``).
    """
    real_counts = get_matrix(adata, counts_layer)
    new = counts_anndata(counts, obs, adata.var_names, like=adata, counts_layer=counts_layer)
    made: dict[str, str] = {}
    notes: list[str] = []
    X = None
    if adata.X is not None:
        if counts_layer is None:
            X, made["X"] = _stack(adata.X, new.X), "counts"
        else:
            recipe = _find_recipe(adata.X, real_counts)
            if recipe is None:
                made["X"] = "counts for the new cells (the real cells' .X is not reproducible from counts)"
                notes.append(
                    "their .X holds raw counts (the real cells' .X is not made from counts in a way "
                    "biogan can reproduce)"
                )
                X = _stack(adata.X, as_stored_like(new.X, adata.X))
            else:
                made["X"] = recipe[0]
                X = _stack(adata.X, _apply(recipe, counts, adata.X))
    layers: dict[str, Any] = {}
    dropped: list[str] = []
    for name, M in adata.layers.items():
        if name == counts_layer:
            layers[name], made[f"layers[{name!r}]"] = _stack(M, new.layers[name]), "counts"
            continue
        recipe = _find_recipe(M, real_counts)
        if recipe is None:
            dropped.append(f"layers[{name!r}]")
        else:
            layers[name], made[f"layers[{name!r}]"] = _stack(M, _apply(recipe, counts, M)), recipe[0]
    dropped += [f"obsm[{key!r}]" for key in adata.obsm] + [f"obsp[{key!r}]" for key in adata.obsp]
    if adata.raw is not None:
        dropped.append(".raw")
    if dropped:
        notes.insert(0, f"dropped {', '.join(dropped)} (not reproducible from counts for new cells)")
    if notes:
        warnings.warn("appending synthetic cells: " + "; ".join(notes), UserWarning, stacklevel=3)
    out = ad.AnnData(
        X=X,
        obs=_stack_obs(adata.obs, new.obs),
        var=adata.var.copy(),
        uns=copy.deepcopy(dict(adata.uns)),
        layers=layers,
        varm={key: value.copy() for key, value in adata.varm.items()},
        varp={key: value.copy() for key, value in adata.varp.items()},
    )
    return out, made


def _check_finite(M: Any, what: str) -> None:
    values = M.data if sp.issparse(M) else np.asarray(M)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InvalidDataError(f"the {what} contain NaN or infinite values")


def _stack(real: Any, new: Any) -> Any:
    """Real rows (bit-for-bit) above new rows already stored like them."""
    if sp.issparse(real):
        return type(real)(sp.vstack([real, new], format=real.format, dtype=real.dtype))
    return np.concatenate([np.asarray(real), np.asarray(new, dtype=real.dtype)])


def _stack_obs(real: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Real ``obs`` above the new cells' (missing columns stay missing; categoricals stay categorical)."""
    out = pd.concat([real, new], axis=0, join="outer")
    for col in real.columns:
        dtype = real[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            known = list(dtype.categories)
            extra = list(pd.unique(new[col].dropna())) if col in new.columns else []
            out[col] = pd.Categorical(out[col], categories=known + [v for v in extra if v not in set(known)])
        elif col in new.columns or not isinstance(dtype, np.dtype):
            continue
        elif dtype.kind == "b":  # missing for the new cells: nullable types that .h5ad can store
            out[col] = out[col].astype("boolean")
        elif dtype.kind in "iu":
            out[col] = out[col].astype(pd.Int64Dtype() if dtype.kind == "i" else pd.UInt64Dtype())
        elif dtype.kind == "O" and real[col].map(lambda v: isinstance(v, str)).all():
            out[col] = out[col].astype("category")
    out.index.name = real.index.name
    return out


def _dense_rows(M: Any, start: int, stop: int) -> np.ndarray:
    block = M[start:stop]
    return (block.toarray() if sp.issparse(block) else np.asarray(block)).astype(np.float64)


def _normalised(counts: np.ndarray, target: float, log: bool) -> np.ndarray:
    """``log1p(counts / library_size * target)`` (the formula of
    :func:`~biogan.data.preprocessing.log_normalize`, in float64), or without the log."""
    lib = counts.sum(1, keepdims=True)
    scaled = counts / np.maximum(lib, 1) * target
    return np.log1p(scaled) if log else scaled


def _find_recipe(M: Any, counts: Any) -> tuple[str, float | None, bool] | None:
    """How ``M`` (``.X`` or a layer) was made from ``counts``, checked on every real cell, or ``None``.

    Candidates: the counts themselves, ``log1p`` of counts normalised to a total per cell, counts
    normalised to a total (the total is read off the cells and must be the same for all of them).
    """
    if not (sp.issparse(M) or isinstance(M, np.ndarray)) or M.shape != counts.shape:
        return None
    if M.dtype.kind not in "fiub":
        return None
    n = M.shape[0]
    first_M, first_c = _dense_rows(M, 0, _BLOCK_ROWS), _dense_rows(counts, 0, _BLOCK_ROWS)
    candidates: list[tuple[str, float | None, bool]] = [("counts", None, False)]
    has_counts = first_c.sum(1) > 0
    if has_counts.any() and np.isfinite(first_M).all():
        for log in (True, False):
            with np.errstate(over="ignore", invalid="ignore"):
                totals = (np.expm1(first_M) if log else first_M)[has_counts].sum(1)
            target = float(np.median(totals))
            if np.isfinite(target) and target > 0 and np.allclose(totals, target, rtol=1e-3):
                target = _round_total(target)
                what = f"counts normalised to {target:g}"
                candidates.append((f"log1p({what})" if log else what, target, log))
    for recipe in candidates:
        if all(
            _matches(
                recipe,
                _dense_rows(M, start, start + _BLOCK_ROWS),
                _dense_rows(counts, start, start + _BLOCK_ROWS),
            )
            for start in range(0, n, _BLOCK_ROWS)
        ):
            return recipe
    return None


def _round_total(target: float) -> float:
    """A total read off float data (9999.997) snapped to the round number it was meant to be (10000)."""
    rounded = float(f"{target:.4g}")
    return rounded if abs(rounded - target) <= 1e-4 * target else target


def _matches(recipe: tuple[str, float | None, bool], M: np.ndarray, counts: np.ndarray) -> bool:
    _, target, log = recipe
    if target is None:
        return np.array_equal(M, counts)
    return np.allclose(M, _normalised(counts, target, log), rtol=1e-4, atol=1e-5)


def _apply(recipe: tuple[str, float | None, bool], counts: Any, ref: Any) -> Any:
    """``recipe`` applied to new cells' ``counts``, stored like ``ref`` (sparse input stays sparse)."""
    _, target, log = recipe
    if target is None:
        return as_stored_like(counts, ref)
    if sp.issparse(counts):
        C = sp.csr_matrix(counts, dtype=np.float64, copy=True)
        lib = np.asarray(C.sum(1)).ravel()
        C = sp.diags(target / np.maximum(lib, 1)) @ C
        if log:
            C.data = np.log1p(C.data)
        return as_stored_like(C.tocsr(), ref)
    return as_stored_like(_normalised(np.asarray(counts, dtype=np.float64), target, log), ref)
