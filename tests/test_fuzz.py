"""Property-based tests (issue 13): readers and validators given random bytes, text, shapes, dtypes and
values either succeed or raise a :class:`~biogan.errors.BioganError`, never another exception."""

from __future__ import annotations

import contextlib
import gzip
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import biogan
from biogan._cli_utils import parse_label_counts
from biogan.data import read_cells, read_table
from biogan.data.validation import check_counts, dense_table, numeric_matrix
from biogan.errors import BioganError
from biogan.models._config import settings_from_cli

# Seeded (derandomize) and without an example database: every run tries the same inputs.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CELL_SUFFIXES = (".h5ad", ".h5", ".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def ok_or_biogan_error(call: Callable[[], Any]) -> Any:
    """Run ``call``; a BioganError is a fine answer, any other exception fails the test (with its input)."""
    try:
        return call()
    except BioganError:
        return None


@contextlib.contextmanager
def written(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` as a file named with ``suffix``, in a folder of its own (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="biogan-fuzz-") as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        yield path


def encoded(text: str, suffix: str) -> bytes:
    data = text.encode("utf-8", errors="surrogatepass")
    return gzip.compress(data, mtime=0) if suffix.endswith(".gz") else data


def separator(suffix: str) -> str:
    return "," if ".csv" in suffix else "\t"


# ---------------------------------------------------------------------------------------------- readers
def _good_files() -> dict[str, bytes]:
    """A valid small file per cell format, to be truncated."""
    rng = np.random.default_rng(0)
    X = rng.poisson(2, size=(12, 5)).astype(np.float32)
    frame = pd.DataFrame(X, index=[f"c{i}" for i in range(12)], columns=[f"g{j}" for j in range(5)])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.h5ad"
        ad.AnnData(
            X=X, obs=pd.DataFrame(index=frame.index), var=pd.DataFrame(index=frame.columns)
        ).write_h5ad(path)
        h5ad = path.read_bytes()
    csv, tsv = frame.to_csv(), frame.to_csv(sep="\t")
    return {
        ".h5ad": h5ad,
        ".csv": csv.encode(),
        ".tsv": tsv.encode(),
        ".csv.gz": gzip.compress(csv.encode(), mtime=0),
        ".tsv.gz": gzip.compress(tsv.encode(), mtime=0),
    }


GOOD_FILES = _good_files()

FIELD = st.one_of(
    st.integers(-5, 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "NA", "inf", "-inf", "x", '"', '"a,b"', " ", "1e400", "0x10", "True", "g1"]),
    st.text(max_size=4),
)
ROWS = st.lists(st.lists(FIELD, max_size=5), max_size=7)


def table_text(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(row) for row in rows) + "\n"


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(CELL_SUFFIXES))
def test_read_cells_on_random_bytes(data, suffix):
    with written(data, suffix) as path:
        ok_or_biogan_error(lambda: read_cells(path))


@FUZZ
@given(suffix=st.sampled_from(sorted(GOOD_FILES)), keep=st.floats(0, 1))
def test_read_cells_on_truncated_files(suffix, keep):
    data = GOOD_FILES[suffix]
    with written(data[: int(len(data) * keep)], suffix) as path:
        ok_or_biogan_error(lambda: read_cells(path))


@FUZZ
@given(
    suffix=st.sampled_from(sorted(GOOD_FILES)),
    damage=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=64)), max_size=4
    ),
)
def test_read_cells_on_damaged_files(suffix, damage):
    data = bytearray(GOOD_FILES[suffix])
    for where, junk in damage:  # overwrite a few spans: bit rot in headers, data or compressed blocks
        start = int(where * len(data))
        data[start : start + len(junk)] = junk
    with written(bytes(data), suffix) as path:
        ok_or_biogan_error(lambda: read_cells(path))


@FUZZ
@given(rows=ROWS, suffix=st.sampled_from((".csv", ".tsv", ".csv.gz", ".tsv.gz")))
def test_random_text_tables_read_as_cells_then_set_up(rows, suffix):
    with written(encoded(table_text(rows, separator(suffix)), suffix), suffix) as path:
        adata = ok_or_biogan_error(lambda: read_cells(path))
        if adata is not None:  # what was read is then registered, as `biogan train` does
            ok_or_biogan_error(lambda: biogan.ExpressionGAN.setup_anndata(adata))


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(TABLE_SUFFIXES), index=st.booleans())
def test_read_table_on_random_bytes(data, suffix, index):
    with written(data, suffix) as path:
        ok_or_biogan_error(lambda: read_table(path, index))


@FUZZ
@given(rows=ROWS, suffix=st.sampled_from(TABLE_SUFFIXES), index=st.booleans())
def test_read_table_on_random_text(rows, suffix, index):
    with written(encoded(table_text(rows, separator(suffix)), suffix), suffix) as path:
        ok_or_biogan_error(lambda: read_table(path, index))


# ---------------------------------------------------------------------------------------------- matrices
NUMERIC_DTYPES = (
    np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_,
    np.complex64,
)  # fmt: skip
SPECIAL = st.sampled_from([0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 3e9, 1e300, -0.0, 2.0**31])


@st.composite
def matrices(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 3) -> Any:
    """A dense array of any numeric dtype and shape (empty sides too), sometimes holding NaN, inf,
    negative, huge or fractional values, sometimes as CSR."""
    dtype = np.dtype(draw(st.sampled_from(NUMERIC_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=6))
    A = draw(hnp.arrays(dtype, shape))
    if dtype.kind in "fc" and A.size and draw(st.booleans()):
        flat = A.reshape(-1)
        for i in draw(st.lists(st.integers(0, A.size - 1), max_size=3)):
            flat[i] = draw(SPECIAL)
    if A.ndim == 2 and dtype.kind in "fiub" and dtype != np.float16 and draw(st.booleans()):
        return sp.csr_matrix(A)
    return A


@st.composite
def array_likes(draw: st.DrawFn) -> Any:
    """What a user might pass as a table: arrays, sparse matrices, nested (even ragged) lists, frames
    with text columns, None."""
    kind = draw(st.sampled_from(["matrix", "nested", "frame", "none", "text-array"]))
    if kind == "matrix":
        return draw(matrices())
    if kind == "nested":
        return draw(
            st.lists(st.lists(st.one_of(st.floats(), st.integers(), st.none()), max_size=4), max_size=4)
        )
    if kind == "frame":
        n = draw(st.integers(0, 5))
        numbers = draw(st.lists(st.floats(), min_size=n, max_size=n))
        words = draw(st.lists(st.one_of(st.text(max_size=3), st.none()), min_size=n, max_size=n))
        return pd.DataFrame({"x": numbers, "y": words})
    if kind == "text-array":
        return np.array(draw(st.lists(st.text(max_size=3), min_size=1, max_size=6))).reshape(-1, 1)
    return None


@FUZZ
@given(X=matrices())
def test_check_counts_on_random_matrices(X):
    ok_or_biogan_error(lambda: check_counts(X))


@FUZZ
@given(X=array_likes())
def test_numeric_matrix_on_random_array_likes(X):
    ok_or_biogan_error(lambda: numeric_matrix(X))


@FUZZ
@given(X=array_likes())
def test_dense_table_on_random_array_likes(X):
    ok_or_biogan_error(lambda: dense_table(X))


# ---------------------------------------------------------------------------------------------- setup_anndata
LABEL = st.one_of(
    st.sampled_from(["B", "T", "NK", "", "<b>x</b>"]), st.none(), st.just(np.nan), st.floats(), st.integers()
)


@st.composite
def anndatas(draw: st.DrawFn) -> tuple[ad.AnnData, str | None, str | None]:
    """Cells of random size, dtype and values (dense or sparse), with a label column of mixed values
    (missing, continuous, one-member classes), maybe duplicated names; and a layer and labels key to
    ask for (present or not)."""
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_])))
    n_obs, n_vars = draw(st.integers(0, 30)), draw(st.integers(0, 6))
    values = st.integers(0, 20) if dtype.kind in "iub" else st.sampled_from([0.0, 1.0, 2.0, 7.0, 0.5])
    X = draw(hnp.arrays(dtype, (n_obs, n_vars), elements=values if dtype.kind != "b" else None))
    if dtype.kind == "f" and X.size and draw(st.booleans()):
        X.reshape(-1)[draw(st.integers(0, X.size - 1))] = draw(SPECIAL)
    labels = draw(st.lists(LABEL, min_size=n_obs, max_size=n_obs))
    obs = pd.DataFrame({"label": pd.Series(labels, dtype=object)}, index=[f"c{i}" for i in range(n_obs)])
    var_names = draw(
        st.lists(st.sampled_from(["g0", "g1", "g2", "g3", "g4", "g5"]), min_size=n_vars, max_size=n_vars)
    )
    matrix = sp.csr_matrix(X) if draw(st.booleans()) and dtype.kind != "b" else X
    adata = ad.AnnData(X=matrix, obs=obs, var=pd.DataFrame(index=var_names))
    if draw(st.booleans()):
        adata.layers["counts"] = matrix.copy()
    return (
        adata,
        draw(st.sampled_from([None, "counts", "nope"])),
        draw(st.sampled_from([None, "label", "nope"])),
    )


@FUZZ
@given(case=anndatas(), allow_large=st.booleans())
def test_setup_anndata_on_random_cells(case, allow_large):
    adata, layer, labels_key = case
    ok_or_biogan_error(
        lambda: biogan.ExpressionGAN.setup_anndata(
            adata, layer=layer, labels_key=labels_key, allow_large_counts=allow_large
        )
    )


# ---------------------------------------------------------------------------------------------- settings
CONFIGS = (biogan.ExpressionGANConfig, biogan.ExpressionVAEConfig, biogan.TabularGANConfig)
KEYS = st.sampled_from(
    ["noise_dim", "generator_hidden", "hidden", "n_latent", "loss", "spectral_norm", "train.batch_size",
     "train.lr_generator", "train.checkpoint_seconds", "batch_size", "n_critic", "train", "train.x", "x.y",
     "noise_dim.x", "", " ", ".", "gumbel_tau", "class_sampling"]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
VALUE_TEXT = st.one_of(
    JSON.map(json.dumps), st.text(max_size=8), st.sampled_from(["1e400", "NaN", "[", "-1"])
)
SETTING = st.one_of(st.builds(lambda k, v: f"{k}={v}", KEYS, VALUE_TEXT), st.text(max_size=10))


@FUZZ
@given(cls=st.sampled_from(CONFIGS), items=st.lists(SETTING, max_size=4), config=st.none() | JSON)
def test_settings_from_random_set_and_config(cls, items, config):
    if config is None:
        ok_or_biogan_error(lambda: settings_from_cli(cls, None, items))
        return
    with written(json.dumps(config).encode(), ".json") as path:
        ok_or_biogan_error(lambda: settings_from_cli(cls, path, items))


LABEL_TEXT = st.one_of(
    st.text(max_size=20),
    st.lists(
        st.builds(
            lambda a, b: f"{a}={b}",
            st.text(max_size=6),
            st.one_of(st.integers(-3, 10**6).map(str), st.text(max_size=3)),
        ),
        max_size=4,
    ).map(",".join),
)


@FUZZ
@given(text=st.none() | LABEL_TEXT)
def test_parse_label_counts_on_random_text(text):
    ok_or_biogan_error(lambda: parse_label_counts(text))


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from((".fasta", ".fa.gz")))
def test_read_fasta_on_random_bytes(data, suffix):
    from biogan.data.sequences import read_fasta

    with written(data, suffix) as path:
        ok_or_biogan_error(lambda: read_fasta(path))


@FUZZ
@given(
    records=st.lists(
        st.tuples(st.text("ab1 |=", min_size=0, max_size=8), st.text("ACGTUMKLNX*-\n acg", max_size=40)),
        max_size=8,
    ),
    alphabet=st.sampled_from((None, "dna", "rna", "protein")),
    max_length=st.sampled_from((None, 5, 30)),
)
def test_read_fasta_on_random_records(records, alphabet, max_length):
    from biogan.data.sequences import read_fasta

    text = "".join(f">{name}\n{seq}\n" for name, seq in records)
    with written(text.encode(), ".fasta") as path:
        data = ok_or_biogan_error(lambda: read_fasta(path, alphabet, r"(\w)", False, max_length))
        if data is not None:
            assert len(data) and all(data.sequences)
