"""The bad-input corpus of issue 13: every CLI command against bad data, bad options and hostile files.

Used by ``tests/test_bad_inputs.py`` (one test per case) and ``benchmarks/reliability.py`` (the table).
Every file a case needs is generated into its own folder from the bundled PBMC data (nothing large is
committed). Each case runs in a forked child of the calling process (imports are paid once; a hang, a
crash or a runaway allocation cannot take the caller down) through typer's test runner, with Python's
default warning filters and the file descriptors captured, so its output is what a terminal would show.

A refused case must exit with status 2, print exactly one line starting ``error:`` that contains one of
its expected fragments, raise no other exception, and leave every file in its folder as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import resource
import select
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------------- materials
CELL_TYPES = {"Dendritic": 50, "CD14+ Monocyte": 40, "CD19+ B": 30}  # unequal: "balanced" has work to do
N_GENES = 80
TINY = dict(
    noise_dim=8,
    generator_hidden=(32,),
    critic_hidden=(32,),
    n_monitor=64,
    batch_size=32,
    n_critic=2,
    log_every=2,
    eval_every=2,
    checkpoint_every=2,
)
TABLE_TINY = dict(generator_hidden=(16,), critic_hidden=(16,), noise_dim=8, n_critic=1, eval_every=5)
GAN_SET = ("--set", "noise_dim=8", "--set", "generator_hidden=[32]", "--set", "critic_hidden=[32]")
VAE_SET = ("--set", "hidden=[16]", "--set", "n_latent=4")
TABLE_SET = ("--set", "noise_dim=8", "--set", "generator_hidden=[16]", "--set", "critic_hidden=[16]")
FAST = ("--max-steps", "2", "--device", "cpu")
PAYLOAD = "<script>alert(1)</script>"
FILE_PAYLOAD = "<img src=x onerror=alert(1)>"  # no slash: a valid file name


@dataclass
class Materials:
    """Good inputs every case starts from, made once: cells, a table and trained model folders."""

    root: Path
    cells: Any  # AnnData, counts in .X, labels in obs["cell_type"]
    table: pd.DataFrame  # label column "diagnosis"

    def model(self, kind: str = "cells") -> Path:
        """The folder of the tiny model for ``kind``: cells, table, or html (cells whose labels and gene
        names carry markup)."""
        return self.root / f"{kind}_model"


def base_cells() -> Any:
    """120 PBMCs of three types (50/40/30) x the 80 most expressed genes, integer counts in ``.X``."""
    import anndata as ad
    import scipy.sparse as sp

    import biogan

    pbmc = biogan.datasets.pbmc68k_counts()
    rows = np.concatenate(
        [np.flatnonzero(pbmc.obs["cell_type"] == name)[:n] for name, n in CELL_TYPES.items()]
    )
    counts = sp.csr_matrix(pbmc.layers["counts"][rows])
    genes = np.sort(np.argsort(-np.asarray(counts.sum(0)).ravel())[:N_GENES])
    X = counts[:, genes].toarray().astype(np.float32)
    keep = X.sum(1) > 0
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(pbmc.obs["cell_type"].to_numpy()[rows][keep].astype(str)),
            "n_counts": X[keep].sum(1) + 0.5,  # a measurement, not a class
        },
        index=pbmc.obs_names[rows][keep],
    )
    return ad.AnnData(X=X[keep], obs=obs, var=pd.DataFrame(index=pbmc.var_names[genes]))


def base_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A clinical-style table: floats, an integer count, a text category and a two-class label."""
    rng = np.random.default_rng(seed)
    label = np.repeat(["benign", "malignant"], [n * 2 // 3, n - n * 2 // 3])
    malignant = label == "malignant"
    return pd.DataFrame(
        {
            "age": rng.normal(55 + 10 * malignant, 8).round(1),
            "crp": rng.lognormal(1 + malignant, 0.7).round(3),
            "visits": rng.poisson(2 + 3 * malignant),
            "smoker": rng.choice(["never", "former", "current"], n),
            "diagnosis": label,
        },
        index=pd.Index([f"p{i}" for i in range(n)], name="patient"),
    )


def build_materials(root: Path) -> Materials:
    """Write the good inputs under ``root`` and train the tiny models (a few seconds)."""
    import biogan

    root.mkdir(parents=True, exist_ok=True)
    cells, table = base_cells(), base_table()
    adata = cells.copy()
    biogan.ExpressionGAN.setup_anndata(adata, labels_key="cell_type")
    mat = Materials(root, cells, table)
    gan = biogan.ExpressionGAN(adata, seed=0, device="cpu", **TINY)
    gan.fit(max_steps=4, checkpoint_dir=mat.model(), progress=False)  # checkpoint.pt for --resume
    gan.save(mat.model())
    html = cells.copy()
    html_names(html)
    biogan.ExpressionGAN.setup_anndata(html, labels_key="cell_type")
    biogan.ExpressionGAN(html, seed=0, device="cpu", **TINY).fit(max_steps=2, progress=False).save(
        mat.model("html")
    )
    tab = biogan.TabularGAN(seed=0, device="cpu", **TABLE_TINY)
    tab.fit(table, "diagnosis", max_steps=4, progress=False)
    tab.save(mat.model("table"))
    return mat


# ---------------------------------------------------------------------------------------------- setup steps
Step = Callable[[Path, Materials], None]


def cells(name: str = "cells.h5ad", change: Callable[[Any], Any] | None = None) -> Step:
    """Write the base cells (changed by ``change``, which may edit in place or return new cells)."""

    def step(d: Path, mat: Materials) -> None:
        adata = mat.cells.copy()
        if change is not None:
            adata = change(adata) or adata
        _write_cells(adata, d / name)

    return step


def _write_cells(adata: Any, path: Path) -> None:
    if path.name.endswith((".csv", ".tsv")):
        frame = pd.DataFrame(np.asarray(adata.X), index=adata.obs_names, columns=adata.var_names)
        frame.to_csv(path, sep="," if path.name.endswith(".csv") else "\t")
    else:
        adata.write_h5ad(path)


def table(name: str = "table.csv", change: Callable[[pd.DataFrame], Any] | None = None) -> Step:
    """Write the base table (changed by ``change``)."""

    def step(d: Path, mat: Materials) -> None:
        frame = mat.table.copy()
        if change is not None:
            frame = change(frame)
            frame = mat.table.copy() if frame is None else frame
        frame.to_csv(d / name, sep="\t" if name.endswith(".tsv") else ",")

    return step


def raw(name: str, data: bytes | str) -> Step:
    """Write ``data`` as ``name`` (garbage, text pretending to be HDF5, a blocking file)."""

    def step(d: Path, mat: Materials) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data.encode() if isinstance(data, str) else data)

    return step


def garbage(name: str, n: int = 4096) -> Step:
    return raw(name, np.random.default_rng(13).bytes(n))


def truncated(name: str, first: Step, keep: float = 0.5) -> Step:
    """Write a good file with ``first``, then cut it to ``keep`` of its bytes (a copy broken off)."""

    def step(d: Path, mat: Materials) -> None:
        first(d, mat)
        data = (d / name).read_bytes()
        (d / name).write_bytes(data[: int(len(data) * keep)])

    return step


def model(name: str = "m", damage: Callable[[Path], None] | None = None, kind: str = "cells") -> Step:
    """Copy a trained model folder (``kind``: see :meth:`Materials.model`), then ``damage`` it."""

    def step(d: Path, mat: Materials) -> None:
        shutil.copytree(mat.model(kind), d / name)
        if damage is not None:
            damage(d / name)

    return step


# ------------------------------------------------------------------------------------ damages and mutations
def flip(file: str, n: int = 16) -> Callable[[Path], None]:
    """Invert ``n`` bytes in the middle of ``file`` (a bit rot or a bad copy)."""

    def damage(folder: Path) -> None:
        data = bytearray((folder / file).read_bytes())
        mid = len(data) // 2
        data[mid : mid + n] = bytes(b ^ 0xFF for b in data[mid : mid + n])
        (folder / file).write_bytes(bytes(data))

    return damage


def cut(file: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = (folder / file).read_bytes()
        (folder / file).write_bytes(data[: len(data) // 2])

    return damage


def overwrite(file: str, data: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / file).write_text(data)

    return damage


def remove(file: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        (folder / file).unlink()

    return damage


def edit_json(file: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = json.loads((folder / file).read_text())
        edit(data)
        (folder / file).write_text(json.dumps(data))

    return damage


class _Payload:
    """Unpickling this runs a shell command: what a hostile ``model.pt`` would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch '{self.marker}'",))


PWNED = "PWNED"  # the file a payload that ran would leave in the case folder


def pickle_payload(file: str, sign: bool = True) -> Callable[[Path], None]:
    """Replace ``file`` with a torch file whose unpickling runs code; ``sign``: update the manifest's
    SHA-256 so only ``weights_only`` loading stands between the payload and execution."""

    def damage(folder: Path) -> None:
        import torch

        torch.save({"problem": _Payload(folder.parent / PWNED)}, folder / file)
        manifest = folder / "manifest.json"
        if sign and manifest.is_file():
            data = json.loads(manifest.read_text())
            if file in data["sha256"]:
                data["sha256"][file] = hashlib.sha256((folder / file).read_bytes()).hexdigest()
                manifest.write_text(json.dumps(data))

    return damage


def set_x(value: float, where: tuple[int, int] = (0, 0)) -> Callable[[Any], None]:
    def change(adata: Any) -> None:
        X = np.asarray(adata.X, dtype=np.float64).copy()
        X[where] = value
        adata.X = X

    return change


def log1p_counts(adata: Any) -> None:
    adata.X = np.log1p(np.asarray(adata.X, dtype=np.float64))


def nan_label(adata: Any) -> None:
    labels = adata.obs["cell_type"].astype(object)
    labels.iloc[3] = np.nan
    adata.obs["cell_type"] = labels


def one_cell_class(adata: Any) -> None:
    labels = adata.obs["cell_type"].astype(str)
    labels.iloc[0] = "Singleton"
    adata.obs["cell_type"] = pd.Categorical(labels)


def html_names(adata: Any) -> None:
    adata.obs["cell_type"] = pd.Categorical(
        [PAYLOAD if c == "CD19+ B" else c for c in adata.obs["cell_type"].astype(str)]
    )
    adata.var_names = [f"{PAYLOAD}{i}" if i < 5 else g for i, g in enumerate(adata.var_names)]


def other_genes(n_genes: int) -> Callable[[Any], Any]:
    """The same cells with other genes (``n_genes`` of them): another data set of the same size."""

    def change(adata: Any) -> Any:
        import anndata as ad

        rng = np.random.default_rng(1)
        X = rng.poisson(np.asarray(adata.X).mean(), size=(adata.n_obs, n_genes)).astype(np.float32)
        var = pd.DataFrame(index=[f"other{i}" for i in range(n_genes)])
        return ad.AnnData(X=X, obs=adata.obs.copy(), var=var)

    return change


def first_cells(n: int) -> Callable[[Any], Any]:
    return lambda adata: adata[:n].copy()


def table_cell(column: str, row: int, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.iloc[row, frame.columns.get_loc(column)] = value
        return frame

    return change


def table_missing(share: float, column: str = "crp") -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        rng = np.random.default_rng(2)
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
        return frame

    return change


def one_row_class(frame: pd.DataFrame) -> pd.DataFrame:
    frame.iloc[0, frame.columns.get_loc("diagnosis")] = "rare"
    return frame


def continuous_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame["diagnosis"] = frame["crp"]
    return frame


# ---------------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One bad input (or hostile file) for one entry point and what a good refusal says.

    ``args`` is the command line, with ``{d}`` for the case's folder; ``expect`` holds message fragments
    (case-insensitive, any one suffices). A case with ``safe_check`` is hostile content that must be
    handled (exit 0) and pass the check on its folder, e.g. HTML escaped in a report.
    """

    entry: str
    name: str
    args: tuple[str, ...]
    setup: tuple[Step, ...] = ()
    expect: tuple[str, ...] = ()
    hostile: bool = False  # a damaged or hostile file (counted in "damaged and hostile files refused")
    safe_check: Callable[[Path], str | None] | None = None

    @property
    def id(self) -> str:
        return f"{self.entry.replace(' ', '-')}:{self.name}"


def _report_is_safe(folder: Path) -> str | None:
    """``None`` when ``folder/report.html`` shows the payloads escaped (so they did reach it) and loads
    nothing remote; else what is wrong."""
    report = folder / "report.html"
    if not report.is_file():
        return "no report.html written"
    text = report.read_text(errors="replace")
    for payload in (PAYLOAD, FILE_PAYLOAD):
        if payload in text:
            return f"report.html holds the raw payload {payload!r}"
        if html.escape(payload) not in text:
            return f"report.html does not show {payload!r} at all (the check would prove nothing)"
    lowered = text.lower()
    for remote in ('src="http', "src='http", 'href="http', "href='http", "@import", "<script"):
        if remote in lowered:
            return f"report.html loads a remote resource or script ({remote!r})"
    return None


def _cases_train_cells(entry: str, settings: tuple[str, ...]) -> list[Case]:
    """The bad inputs every ``biogan train`` of cells shares (expression GAN and VAE)."""
    cmd = ("train", entry.split()[1])
    run = (*FAST, *settings)

    def train(data: str = "{d}/cells.h5ad", *extra: str, labels: str = "cell_type") -> tuple[str, ...]:
        return (*cmd, data, "--labels-key", labels, "--out", "{d}/m", *run, *extra)

    return [
        Case(
            entry, "garbage-h5ad", train("{d}/x.h5ad"), (garbage("x.h5ad"),), ("cannot read",), hostile=True
        ),
        Case(
            entry,
            "text-as-h5ad",
            train("{d}/x.h5ad"),
            (raw("x.h5ad", "cell,g1\nc1,3\n"),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "truncated-h5ad",
            train("{d}/x.h5ad"),
            (truncated("x.h5ad", cells("x.h5ad")),),
            ("cannot read",),
            hostile=True,
        ),
        Case(entry, "empty-file", train("{d}/x.h5ad"), (raw("x.h5ad", b""),), ("cannot read",), hostile=True),
        Case(entry, "missing-input", train("{d}/nowhere.h5ad"), (), ("does not exist",)),
        Case(
            entry,
            "wrong-extension",
            train("{d}/x.xlsx"),
            (raw("x.xlsx", "a,b\n1,2\n"),),
            ("cannot tell the format",),
        ),
        Case(entry, "nan-counts", train(), (cells(change=set_x(np.nan)),), ("nan",)),
        Case(entry, "inf-counts", train(), (cells(change=set_x(np.inf)),), ("infinite",)),
        Case(entry, "negative-counts", train(), (cells(change=set_x(-3)),), ("negative",)),
        Case(entry, "non-integer-counts", train(), (cells(change=log1p_counts),), ("non-integer",)),
        Case(
            entry,
            "counts-beyond-int32",
            train(),
            (cells(change=set_x(3e9)),),
            ("2^31", "int32", "2147483647", "large counts"),
        ),
        Case(entry, "few-cells", train(), (cells(change=first_cells(3)),), ("at least", "too few")),
        Case(entry, "missing-label-column", train(labels="celltype"), (cells(),), ("no column",)),
        Case(entry, "nan-label", train(), (cells(change=nan_label),), ("missing label",)),
        Case(entry, "one-cell-class", train(), (cells(change=one_cell_class),), ("single cell",)),
        Case(entry, "continuous-labels", train(labels="n_counts"), (cells(),), ("continuous",)),
        Case(
            entry,
            "csv-not-numeric",
            train("{d}/x.csv"),
            (raw("x.csv", "cell,g1,g2\nc1,3,x\nc2,1,2\n"),),
            ("not numeric",),
        ),
        Case(
            entry,
            "truncated-csv-gz",
            train("{d}/x.csv.gz"),
            (_truncated_gzip("x.csv.gz"),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "out-is-input",
            (*cmd, "{d}/cells.h5ad", "--out", "{d}/cells.h5ad", *run),
            (cells(),),
            ("would overwrite the input",),
        ),
        Case(entry, "out-is-model-folder", train(), (cells(), model()), ("already exists",)),
        Case(
            entry,
            "out-under-a-file",
            (*cmd, "{d}/cells.h5ad", "--out", "{d}/f/m", *run),
            (cells(), raw("f", "x")),
            ("cannot write",),
        ),
        Case(
            entry,
            "out-in-proc",
            (*cmd, "{d}/cells.h5ad", "--out", "/proc/biogan-x/m", *run),
            (cells(),),
            ("cannot write",),
        ),
        Case(entry, "max-steps-0", (*train(), "--max-steps", "0"), (cells(),), ("at least 1",)),
        Case(entry, "max-minutes-0", (*train(), "--max-minutes", "0"), (cells(),), ("positive",)),
        Case(entry, "unknown-setting", (*train(), "--set", "noise_dimm=8"), (cells(),), ("unknown setting",)),
        Case(
            entry,
            "setting-wrong-type",
            (*train(), "--set", "train.batch_size=big"),
            (cells(),),
            ("takes an integer",),
        ),
        Case(entry, "setting-without-value", (*train(), "--set", "noise_dim"), (cells(),), ("key=value",)),
        Case(
            entry,
            "config-not-json",
            (*train(), "--config", "{d}/c.json"),
            (cells(), raw("c.json", "{no")),
            ("cannot read config",),
        ),
        Case(entry, "unknown-device", (*train(), "--device", "tpu"), (cells(),), ("device 'tpu'",)),
    ]


def _truncated_gzip(name: str) -> Step:
    def step(d: Path, mat: Materials) -> None:
        import gzip

        frame = pd.DataFrame(np.asarray(mat.cells.X), index=mat.cells.obs_names, columns=mat.cells.var_names)
        data = gzip.compress(frame.to_csv().encode())
        (d / name).write_bytes(data[: len(data) // 2])

    return step


def _cases_resume() -> list[Case]:
    """``--resume`` against checkpoints of other data, other settings, or damaged / hostile ones."""
    entry = "train expression"

    def resume(data: str = "{d}/cells.h5ad", *extra: str) -> tuple[str, ...]:
        return (
            "train",
            "expression",
            data,
            "--labels-key",
            "cell_type",
            "--out",
            "{d}/m",
            "--resume",
            "--max-steps",
            "6",
            "--device",
            "cpu",
            "--config",
            "{d}/c.json",
            *extra,
        )

    copy_config = _copy_config()
    return [
        Case(
            entry,
            "resume-other-genes",
            resume("{d}/o.h5ad"),
            (model(), copy_config, cells("o.h5ad", other_genes(N_GENES // 2))),
            ("does not match", "other genes", "training samples"),
        ),
        Case(
            entry,
            "resume-same-shape-other-genes",
            resume("{d}/o.h5ad"),
            (model(), copy_config, cells("o.h5ad", other_genes(N_GENES))),
            ("does not match", "other genes", "genes differ", "other data"),
        ),
        Case(
            entry,
            "resume-other-cells",
            resume("{d}/o.h5ad"),
            (model(), copy_config, cells("o.h5ad", first_cells(100))),
            ("training samples",),
        ),
        Case(
            entry,
            "resume-other-settings",
            resume("{d}/cells.h5ad", "--set", "train.batch_size=16"),
            (model(), copy_config, cells()),
            ("other training settings",),
        ),
        Case(
            entry,
            "resume-damaged-checkpoint",
            resume(),
            (model(damage=flip("checkpoint.pt")), copy_config, cells()),
            ("damaged", "corrupt"),
            hostile=True,
        ),
        Case(
            entry,
            "resume-truncated-checkpoint",
            resume(),
            (model(damage=cut("checkpoint.pt")), copy_config, cells()),
            ("corrupt", "truncated", "damaged"),
            hostile=True,
        ),
        Case(
            entry,
            "resume-pickle-checkpoint",
            resume(),
            (model(damage=pickle_payload("checkpoint.pt")), copy_config, cells()),
            ("cannot be read", "corrupt", "not a biogan"),
            hostile=True,
        ),
    ]


def _copy_config() -> Step:
    def step(d: Path, mat: Materials) -> None:
        shutil.copy(mat.model() / "config.json", d / "c.json")

    return step


def _cases_train_table() -> list[Case]:
    entry = "train table"
    run = (*FAST, *TABLE_SET)

    def train(data: str = "{d}/t.csv", labels: str = "diagnosis", *extra: str) -> tuple[str, ...]:
        return ("train", "table", data, "--labels-key", labels, "--out", "{d}/m", *run, *extra)

    return [
        Case(
            entry,
            "garbage-csv",
            train("{d}/x.csv"),
            (garbage("x.csv"),),
            ("cannot read", "no column"),
            hostile=True,
        ),
        Case(entry, "missing-input", train("{d}/nowhere.csv"), (), ("does not exist",)),
        Case(entry, "wrong-extension", train("{d}/t.xlsx"), (table("t.xlsx"),), ("cannot tell the format",)),
        Case(
            entry, "missing-label-column", train(labels="outcome"), (table("t.csv"),), ("not in the table",)
        ),
        Case(
            entry,
            "nan-label",
            train(),
            (table("t.csv", table_cell("diagnosis", 4, np.nan)),),
            ("missing label",),
        ),
        Case(entry, "missing-values", train(), (table("t.csv", table_missing(0.2)),), ("missing",)),
        Case(entry, "inf-value", train(), (table("t.csv", table_cell("crp", 2, np.inf)),), ("infinite",)),
        Case(
            entry, "mixed-column", train(), (table("t.csv", table_cell("age", 2, "old")),), ("mixes numbers",)
        ),
        Case(entry, "one-row-class", train(), (table("t.csv", one_row_class),), ("single row",)),
        Case(entry, "continuous-labels", train(), (table("t.csv", continuous_label),), ("continuous",)),
        Case(entry, "few-rows", train(), (table("t.csv", lambda f: f.iloc[[0, 1, 90, 91]]),), ("at least",)),
        Case(
            entry, "header-only", train(), (raw("t.csv", "patient,age,diagnosis\n"),), ("empty", "at least")
        ),
        Case(
            entry,
            "out-is-input",
            ("train", "table", "{d}/t.csv", "--out", "{d}/t.csv", *run),
            (table("t.csv"),),
            ("would overwrite the input",),
        ),
        Case(
            entry,
            "out-under-a-file",
            ("train", "table", "{d}/t.csv", "--out", "{d}/f/m", *run),
            (table("t.csv"), raw("f", "x")),
            ("cannot write",),
        ),
        Case(entry, "max-steps-0", (*train(), "--max-steps", "0"), (table("t.csv"),), ("at least 1",)),
        Case(
            entry, "unknown-setting", (*train(), "--set", "gumbel=1"), (table("t.csv"),), ("unknown setting",)
        ),
    ]


def _fasta(records: dict[str, str]) -> str:
    return "".join(f">{name}\n{seq}\n" for name, seq in records.items())


GOOD_PEPTIDES = {f"p{i}": "MKKLLPTAAAGLLLLAAQPAMA"[: 10 + i % 10] for i in range(30)}
SEQUENCE_SET = ("--set", "channels=8", "--set", "n_blocks=1", "--set", "noise_dim=8")


def _cases_train_sequence() -> list[Case]:
    entry = "train sequence"

    def train(data: str = "{d}/s.fa", *extra: str) -> tuple[str, ...]:
        return ("train", "sequence", data, "--out", "{d}/m", *FAST, *SEQUENCE_SET, *extra)

    def fasta(records: dict[str, str], name: str = "s.fa") -> Step:
        return raw(name, _fasta(records))

    bad_letters = {**GOOD_PEPTIDES, "p3": "MKK#LP", "p7": "MK1LL"}
    return [
        Case(entry, "garbage-fasta", train(), (garbage("s.fa"),), ("not fasta", "cannot read"), hostile=True),
        Case(entry, "missing-input", train("{d}/nowhere.fa"), (), ("does not exist",)),
        Case(entry, "empty-file", train(), (raw("s.fa", ""),), ("is empty",)),
        Case(entry, "fastq", train(), (raw("s.fa", "@r1\nACGT\n+\nIIII\n"),), ("fastq",)),
        Case(entry, "letters-outside-alphabet", train(), (fasta(bad_letters),), ("outside the protein",)),
        Case(entry, "empty-record", train(), (fasta({**GOOD_PEPTIDES, "p4": ""}),), ("no sequence",)),
        Case(
            entry,
            "duplicate-ids",
            train(),
            (raw("s.fa", _fasta(GOOD_PEPTIDES) + ">p1\nMKKL\n"),),
            ("more than once",),
        ),
        Case(entry, "too-long", (*train(), "--max-length", "12"), (fasta(GOOD_PEPTIDES),), ("--truncate",)),
        Case(entry, "few-sequences", train(), (fasta(dict(list(GOOD_PEPTIDES.items())[:4])),), ("at least",)),
        Case(
            entry,
            "unknown-alphabet",
            (*train(), "--alphabet", "amino"),
            (fasta(GOOD_PEPTIDES),),
            ("alphabet",),
        ),
        Case(
            entry,
            "label-regex-misses",
            (*train(), "--label-regex", "class=(\\w+)"),
            (fasta(GOOD_PEPTIDES),),
            ("matches no label",),
        ),
        Case(
            entry,
            "truncated-gzip",
            train("{d}/s.fa.gz"),
            (truncated("s.fa.gz", raw("s.fa.gz", _gz_fasta())),),
            ("cannot read",),
            hostile=True,
        ),
    ]


def _gz_fasta() -> bytes:
    import gzip

    return gzip.compress(_fasta(GOOD_PEPTIDES).encode() * 20, mtime=0)


GENOTYPE_SET = ("--set", "hidden=16", "--set", "noise_dim=8")


def _vcf(rows: list[tuple[int, str, str, list[str]]], samples: list[str] | None = None) -> str:
    """A small VCF: ``(pos, ref, alt, calls)`` per record."""
    samples = samples or [f"s{i}" for i in range(len(rows[0][3]) if rows else 12)]
    header = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=10000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    lines = ["\t".join(["1", str(p), ".", r, a, ".", "PASS", ".", "GT", *c]) for p, r, a, c in rows]
    return "\n".join(header + lines) + "\n"


def _good_calls(n: int = 12, sep: str = "|") -> list[tuple[int, str, str, list[str]]]:
    return [
        (100 * (j + 1), "A", "G", [f"{(i + j) % 2}{sep}{(i * j) % 2}" for i in range(n)]) for j in range(6)
    ]


def _cases_train_genotype() -> list[Case]:
    entry = "train genotype"

    def train(data: str = "{d}/g.vcf", *extra: str) -> tuple[str, ...]:
        return ("train", "genotype", data, "--out", "{d}/m", *FAST, *GENOTYPE_SET, *extra)

    def vcf(rows=None, name: str = "g.vcf", samples=None) -> Step:
        return raw(name, _vcf(_good_calls() if rows is None else rows, samples))

    panel = raw("panel.tsv", "sample\tpop\n" + "".join(f"s{i}\tP{i % 2}\n" for i in range(12)))
    short_panel = raw("short.tsv", "sample\tpop\n" + "".join(f"s{i}\tP\n" for i in range(5)))
    holes = _good_calls()
    holes[2][3][4] = "./."
    mixed = _good_calls()
    mixed[1][3][0] = "1"
    return [
        Case(entry, "garbage-vcf", train(), (garbage("g.vcf"),), ("not a vcf",), hostile=True),
        Case(entry, "missing-input", train("{d}/nowhere.vcf"), (), ("does not exist", "no such file")),
        Case(entry, "no-snps", train(), (vcf([]),), ("no biallelic snps",)),
        Case(entry, "indels-only", train(), (vcf([(10, "A", "AT", ["0|1"] * 12)]),), ("no biallelic snps",)),
        Case(entry, "mixed-ploidy", train(), (vcf(mixed),), ("different ploidies",)),
        Case(entry, "unphased", train(), (vcf(_good_calls(sep="/")),), ("unphased",)),
        Case(entry, "missing-calls", train(), (vcf(holes),), ("missing calls",)),
        Case(entry, "few-samples", train(), (vcf(_good_calls(4)),), ("at least",)),
        Case(
            entry,
            "labels-key-absent",
            (*train(), "--samples-file", "{d}/panel.tsv", "--labels-key", "super_pop"),
            (vcf(), panel),
            ("no column 'super_pop'",),
        ),
        Case(
            entry,
            "panel-misses-samples",
            (*train(), "--samples-file", "{d}/short.tsv", "--labels-key", "pop"),
            (vcf(), short_panel),
            ("are not in",),
        ),
        Case(entry, "bad-hapt", train("{d}/g.hapt"), (raw("g.hapt", "Real a_A 0 2\n"),), ("0 and 1 only",)),
        Case(
            entry,
            "truncated-bgzip",
            train("{d}/g.vcf.gz"),
            (truncated("g.vcf.gz", raw("g.vcf.gz", _gz_vcf())),),
            ("not a vcf", "cannot read", "htslib"),
            hostile=True,
        ),
    ]


STRUCTURE_SET = ("--set", "chain_channels=8", "--set", "n_blocks=1", "--set", "n_monitor=16")


def _ca_pdb(n: int = 40, step: float = 3.8, name: str = "ALA", first_bad: int | None = None) -> str:
    """A Cα-only chain of ``n`` residues on a helix-like spiral (``step`` Å between neighbours)."""
    t = np.arange(n) * 1.745  # 100° per residue
    scale = step / 3.8
    xyz = np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), 1.5 * np.arange(n)], 1) * scale
    lines = [
        f"ATOM  {i + 1:>5}  CA  {'XYZ' if i == first_bad else name} A{i + 1:>4}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C"
        for i, (x, y, z) in enumerate(xyz)
    ]
    return "\n".join([*lines, "END"]) + "\n"


def _cases_train_structure() -> list[Case]:
    entry = "train structure"

    def train(data: str = "{d}/s", *extra: str) -> tuple[str, ...]:
        return ("train", "structure", data, "--out", "{d}/m", *FAST, *STRUCTURE_SET, *extra)

    def chains(n_files: int = 12, **kw: Any) -> list[Step]:
        return [raw(f"s/c{i:02d}.pdb", _ca_pdb(**kw)) for i in range(n_files)]

    def gz_pdb() -> bytes:
        import gzip

        return gzip.compress(_ca_pdb(400).encode(), mtime=0)

    return [
        Case(entry, "missing-input", train("{d}/nowhere"), (), ("does not exist",)),
        Case(
            entry, "empty-folder", train(), (raw("s/readme.txt", "no structures"),), ("no structure files",)
        ),
        Case(
            entry,
            "garbage-pdb",
            train(),
            (garbage("s/a.pdb"),),
            ("not a protein structure", "not a readable"),
        ),
        Case(entry, "text-as-pdb", train(), (raw("s/a.pdb", "HEADER nothing here\n"),), ("no amino acid",)),
        Case(entry, "garbage-cif", train(), (garbage("s/a.cif"),), ("not a readable", "no amino acid")),
        Case(entry, "wrong-suffix", train("{d}/s.txt"), (raw("s.txt", "x"),), ("are read from",)),
        Case(entry, "chains-too-short", train(), tuple(chains(n=20)), ("shorter --fragment-length",)),
        Case(
            entry,
            "all-steps-broken",
            (*train(), "--fragment-length", "16"),
            tuple(chains(step=5.0)),
            ("shorter --fragment-length",),
        ),
        Case(
            entry, "fragment-length-4", (*train(), "--fragment-length", "4"), tuple(chains()), ("at least 8",)
        ),
        Case(entry, "stride-zero", (*train(), "--stride", "0"), tuple(chains()), ("at least 1",)),
        Case(entry, "bad-models", (*train(), "--models", "some"), tuple(chains()), ("models must be",)),
        Case(entry, "few-fragments", (*train(), "--fragment-length", "40"), tuple(chains(2)), ("at least",)),
        Case(
            entry,
            "truncated-gz",
            train("{d}/a.pdb.gz"),
            (truncated("a.pdb.gz", raw("a.pdb.gz", gz_pdb())),),
            ("not a readable", "no amino acid"),
            hostile=True,
        ),
    ]


def _gz_vcf() -> bytes:
    import gzip

    rows = [(10 * (j + 1), "A", "G", [f"{i % 2}|{j % 2}" for i in range(12)]) for j in range(400)]
    return gzip.compress(_vcf(rows).encode(), mtime=0)


def _cases_sample() -> list[Case]:
    entry = "sample"

    def sample(*extra: str, out: str = "{d}/s.h5ad", folder: str = "{d}/m") -> tuple[str, ...]:
        return ("sample", folder, "-o", out, "--device", "cpu", *extra)

    n5 = ("-n", "5")
    return [
        Case(entry, "n-zero", sample("-n", "0"), (model(),), ("at least one sample",)),
        Case(entry, "n-negative", sample("-n", "-5"), (model(),), ("at least one sample",)),
        Case(entry, "no-n-no-labels", sample(), (model(),), ("give -n",)),
        Case(entry, "n-beyond-memory", sample("-n", "100000000000"), (model(),), ("memory",)),
        Case(entry, "labels-unknown", sample("--labels", "Neuron=3"), (model(),), ("never saw",)),
        Case(entry, "labels-unreadable", sample("--labels", "Dendritic=x"), (model(),), ("cannot read",)),
        Case(
            entry, "labels-all-zero", sample("--labels", "Dendritic=0"), (model(),), ("at least one sample",)
        ),
        Case(
            entry,
            "out-is-model-pt",
            sample(*n5, out="{d}/m/model.pt"),
            (model(),),
            ("would overwrite the input",),
        ),
        Case(
            entry,
            "out-inside-model",
            sample(*n5, out="{d}/m/s.h5ad"),
            (model(),),
            ("would overwrite the input",),
        ),
        Case(entry, "out-csv-for-cells", sample(*n5, out="{d}/s.csv"), (model(),), ("written as .h5ad",)),
        Case(
            entry,
            "out-h5ad-for-table",
            sample(*n5, out="{d}/s.h5ad"),
            (model(kind="table"),),
            ("written as .csv",),
        ),
        Case(entry, "out-exists", sample(*n5), (model(), raw("s.h5ad", "mine")), ("already exists",)),
        Case(
            entry,
            "out-under-a-file",
            sample(*n5, out="{d}/f/s.h5ad"),
            (model(), raw("f", "x")),
            ("cannot write",),
        ),
        Case(entry, "out-in-proc", sample(*n5, out="/proc/biogan-x/s.h5ad"), (model(),), ("cannot write",)),
        Case(entry, "missing-model", sample(*n5, folder="{d}/nowhere"), (), ("does not exist",)),
        Case(entry, "empty-model-folder", sample(*n5), (raw("m/.keep", ""),), ("does not exist",)),
        Case(
            entry,
            "flipped-model-pt",
            sample(*n5),
            (model(damage=flip("model.pt")),),
            ("damaged",),
            hostile=True,
        ),
        Case(
            entry,
            "truncated-model-pt",
            sample(*n5),
            (model(damage=cut("model.pt")),),
            ("damaged",),
            hostile=True,
        ),
        Case(
            entry,
            "missing-model-pt",
            sample(*n5),
            (model(damage=remove("model.pt")),),
            ("missing",),
            hostile=True,
        ),
        Case(
            entry,
            "pickle-model-pt",
            sample(*n5),
            (model(damage=pickle_payload("model.pt")),),
            ("cannot be read", "corrupt", "not a biogan"),
            hostile=True,
        ),
        Case(
            entry,
            "garbage-config-json",
            sample(*n5),
            (model(damage=overwrite("config.json", "{x")),),
            ("corrupt",),
            hostile=True,
        ),
        Case(
            entry,
            "edited-config-json",
            sample(*n5),
            (model(damage=edit_json("config.json", lambda c: c.update(seed=7))),),
            ("damaged",),
            hostile=True,
        ),
        Case(
            entry,
            "unknown-model-type",
            sample(*n5),
            (model(damage=edit_json("config.json", lambda c: c.update(type="x", model="X"))),),
            ("unknown model", "damaged"),
            hostile=True,
        ),
        Case(
            entry,
            "garbage-manifest",
            sample(*n5),
            (model(damage=overwrite("manifest.json", "[1")),),
            ("corrupt",),
            hostile=True,
        ),
        Case(entry, "unknown-device", sample(*n5, "--device", "tpu"), (model(),), ("device 'tpu'",)),
    ]


def _cases_augment() -> list[Case]:
    entry = "augment"

    def augment(data: str = "{d}/cells.h5ad", *extra: str, out: str = "{d}/a.h5ad") -> tuple[str, ...]:
        return ("augment", data, "--labels-key", "cell_type", "-o", out, *FAST, *extra)

    with_model = ("--model-dir", "{d}/m")
    table_args = ("augment", "{d}/t.csv", "--labels-key", "diagnosis", *FAST)
    return [
        Case(
            entry, "out-is-input", augment(out="{d}/cells.h5ad"), (cells(),), ("would overwrite the input",)
        ),
        Case(
            entry,
            "out-inside-model",
            augment("{d}/cells.h5ad", *with_model, out="{d}/m/a.h5ad"),
            (cells(), model()),
            ("would overwrite the input",),
        ),
        Case(entry, "out-csv-for-cells", augment(out="{d}/a.csv"), (cells(),), ("written as .h5ad",)),
        Case(
            entry,
            "out-under-a-file",
            augment(out="{d}/f/a.h5ad"),
            (cells(), raw("f", "x")),
            ("cannot write",),
        ),
        Case(
            entry,
            "min-confidence-2",
            augment("{d}/cells.h5ad", "--min-confidence", "2"),
            (cells(),),
            ("between 0 and 1",),
        ),
        Case(
            entry, "max-steps-0", augment("{d}/cells.h5ad", "--max-steps", "0"), (cells(),), ("at least 1",)
        ),
        Case(
            entry,
            "target-unreadable",
            augment("{d}/cells.h5ad", "--target", "lots"),
            (cells(),),
            ("cannot read target",),
        ),
        Case(entry, "target-shrinks", augment("{d}/cells.h5ad", "--target", "x0.5"), (cells(),), ("shrink",)),
        Case(
            entry,
            "target-unknown-label",
            augment("{d}/cells.h5ad", "--target", "Neuron=50"),
            (cells(),),
            ("not in the data",),
        ),
        Case(
            entry,
            "target-below-size",
            augment("{d}/cells.h5ad", "--target", "Dendritic=3"),
            (cells(),),
            ("cannot be below",),
        ),
        Case(
            entry,
            "target-x1000000",
            augment("{d}/cells.h5ad", "--target", "x1000000"),
            (cells(),),
            ("--force", "memory"),
        ),
        Case(
            entry,
            "missing-label-column",
            ("augment", "{d}/cells.h5ad", "--labels-key", "celltype", "-o", "{d}/a.h5ad", *FAST),
            (cells(),),
            ("no column",),
        ),
        Case(entry, "nan-label", augment(), (cells(change=nan_label),), ("missing label",)),
        Case(entry, "one-cell-class", augment(), (cells(change=one_cell_class),), ("single cell",)),
        Case(
            entry,
            "continuous-labels",
            ("augment", "{d}/cells.h5ad", "--labels-key", "n_counts", "-o", "{d}/a.h5ad", *FAST),
            (cells(),),
            ("continuous",),
        ),
        Case(entry, "nan-counts", augment(), (cells(change=set_x(np.nan)),), ("nan",)),
        Case(entry, "non-integer-counts", augment(), (cells(change=log1p_counts),), ("non-integer",)),
        Case(
            entry,
            "counts-beyond-int32",
            augment(),
            (cells(change=set_x(3e9)),),
            ("2^31", "int32", "2147483647", "large counts"),
        ),
        Case(entry, "few-cells", augment(), (cells(change=first_cells(4)),), ("at least", "too few")),
        Case(
            entry,
            "text-as-h5ad",
            augment("{d}/x.h5ad"),
            (raw("x.h5ad", "not hdf5\n"),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "truncated-h5ad",
            augment("{d}/x.h5ad"),
            (truncated("x.h5ad", cells("x.h5ad")),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "damaged-model-dir",
            augment("{d}/cells.h5ad", *with_model),
            (cells(), model(damage=flip("model.pt"))),
            ("damaged",),
            hostile=True,
        ),
        Case(
            entry,
            "table-model-for-cells",
            augment("{d}/cells.h5ad", *with_model),
            (cells(), model(kind="table")),
            ("holds a",),
        ),
        Case(
            entry,
            "model-of-other-genes",
            augment("{d}/o.h5ad", *with_model),
            (cells("o.h5ad", other_genes(N_GENES)), model()),
            ("genes",),
        ),
        Case(
            entry,
            "table-out-is-input",
            (*table_args, "-o", "{d}/t.csv"),
            (table("t.csv"),),
            ("would overwrite the input",),
        ),
        Case(
            entry,
            "table-one-row-class",
            (*table_args, "-o", "{d}/a.csv"),
            (table("t.csv", one_row_class),),
            ("single row",),
        ),
        Case(
            entry,
            "table-nan-label",
            (*table_args, "-o", "{d}/a.csv"),
            (table("t.csv", table_cell("diagnosis", 4, np.nan)),),
            ("missing label",),
        ),
        Case(
            entry,
            "table-out-h5ad",
            (*table_args, "-o", "{d}/a.h5ad"),
            (table("t.csv"),),
            ("written as .csv",),
        ),
    ]


def _cases_impute() -> list[Case]:
    entry = "impute"
    run = ("--max-steps", "2", "--no-progress")

    def impute(data: str = "{d}/t.csv", out: str = "{d}/f.csv", *extra: str) -> tuple[str, ...]:
        return ("impute", data, "-o", out, *run, *extra)

    gappy = table("t.csv", table_missing(0.2))
    return [
        Case(
            entry,
            "text-as-h5ad",
            impute("{d}/x.h5ad", "{d}/f.h5ad"),
            (raw("x.h5ad", "a,b\n1,\n"),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "truncated-h5ad",
            impute("{d}/x.h5ad", "{d}/f.h5ad"),
            (truncated("x.h5ad", cells("x.h5ad")),),
            ("cannot read",),
            hostile=True,
        ),
        Case(entry, "garbage-csv", impute("{d}/x.csv"), (garbage("x.csv"),), ("cannot read",), hostile=True),
        Case(entry, "missing-input", impute("{d}/nowhere.csv"), (), ("does not exist",)),
        Case(entry, "missing-h5ad-input", impute("{d}/nowhere.h5ad", "{d}/f.h5ad"), (), ("does not exist",)),
        Case(
            entry, "out-is-input", impute("{d}/t.csv", "{d}/t.csv"), (gappy,), ("would overwrite the input",)
        ),
        Case(entry, "out-kind-mismatch", impute("{d}/t.csv", "{d}/f.h5ad"), (gappy,), ("needs an .h5ad",)),
        Case(
            entry,
            "out-wrong-extension",
            impute("{d}/t.csv", "{d}/f.xlsx"),
            (gappy,),
            ("cannot tell the format",),
        ),
        Case(
            entry,
            "input-wrong-extension",
            impute("{d}/t.xlsx"),
            (table("t.xlsx", table_missing(0.2)),),
            ("cannot tell the format",),
        ),
        Case(
            entry,
            "out-under-a-file",
            impute("{d}/t.csv", "{d}/f/f.csv"),
            (gappy, raw("f", "x")),
            ("cannot write",),
        ),
        Case(entry, "out-in-proc", impute("{d}/t.csv", "/proc/biogan-x/f.csv"), (gappy,), ("cannot write",)),
        Case(entry, "max-steps-0", (*impute(), "--max-steps", "0"), (gappy,), ("at least 1",)),
        Case(entry, "layer-on-csv", (*impute(), "--layer", "counts"), (gappy,), ("--layer only applies",)),
        Case(
            entry,
            "unknown-layer",
            impute("{d}/c.h5ad", "{d}/f.h5ad", "--layer", "nope"),
            (cells("c.h5ad"),),
            ("no layer",),
        ),
        Case(entry, "inf-value", impute(), (table("t.csv", table_cell("crp", 2, np.inf)),), ("infinite",)),
        Case(
            entry,
            "mixed-column",
            impute(),
            (table("t.csv", table_cell("age", 2, "old")),),
            ("mixes numbers",),
        ),
        Case(
            entry,
            "all-missing-column",
            impute(),
            (table("t.csv", table_missing(1.1)),),
            ("no observed value", "without any observed value"),
        ),
        Case(entry, "header-only", impute(), (raw("t.csv", "patient,age,crp\n"),), ("empty", "at least")),
        Case(
            entry,
            "few-rows",
            impute(),
            (table("t.csv", lambda f: table_missing(0.3)(f.iloc[:3])),),
            ("at least",),
        ),
        Case(
            entry, "unknown-categorical", (*impute(), "--categorical", "zz"), (gappy,), ("not in the data",)
        ),
    ]


def _cases_evaluate() -> list[Case]:
    entry = "evaluate"

    def evaluate(
        real: str = "{d}/r.h5ad",
        synth: str = "{d}/s.h5ad",
        *extra: str,
        out: str = "{d}/out",
        labels: str = "cell_type",
    ) -> tuple[str, ...]:
        return ("evaluate", real, synth, "--out", out, "--labels-key", labels, "--embedding", "pca", *extra)

    pair = (cells("r.h5ad"), cells("s.h5ad"))
    tables = (table("r.csv"), table("s.csv"))
    return [
        Case(
            entry, "nan-label", evaluate(), (cells("r.h5ad", nan_label), cells("s.h5ad")), ("missing label",)
        ),
        Case(
            entry, "missing-label-column", evaluate(labels="celltype"), pair, ("no obs column", "no column")
        ),
        Case(entry, "continuous-labels", evaluate(labels="n_counts"), pair, ("continuous",)),
        Case(entry, "out-under-a-file", evaluate(out="{d}/f/out"), (*pair, raw("f", "x")), ("cannot write",)),
        Case(entry, "out-in-proc", evaluate(out="/proc/biogan-x"), pair, ("cannot write",)),
        Case(entry, "out-is-input", evaluate(out="{d}/r.h5ad"), pair, ("would overwrite the input",)),
        Case(entry, "embedding-tsne", (*evaluate(), "--embedding", "tsne"), pair, ("unknown --embedding",)),
        Case(entry, "unknown-kind", (*evaluate(), "--kind", "images"), pair, ("unknown --kind",)),
        Case(
            entry,
            "garbage-synth",
            evaluate(),
            (cells("r.h5ad"), garbage("s.h5ad")),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "truncated-real",
            evaluate(),
            (truncated("r.h5ad", cells("r.h5ad")), cells("s.h5ad")),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "synth-other-genes",
            evaluate(),
            (cells("r.h5ad"), cells("s.h5ad", other_genes(N_GENES))),
            ("genes",),
        ),
        Case(
            entry, "synth-nan-counts", evaluate(), (cells("r.h5ad"), cells("s.h5ad", set_x(np.nan))), ("nan",)
        ),
        Case(
            entry, "synth-negative", evaluate(), (cells("r.h5ad"), cells("s.h5ad", set_x(-1))), ("negative",)
        ),
        Case(
            entry,
            "few-cells",
            evaluate(),
            (cells("r.h5ad", first_cells(4)), cells("s.h5ad")),
            ("at least", "too few"),
        ),
        Case(
            entry,
            "table-missing-label-column",
            evaluate("{d}/r.csv", "{d}/s.csv", labels="outcome"),
            tables,
            ("no column",),
        ),
        Case(
            entry,
            "table-nan-label",
            evaluate("{d}/r.csv", "{d}/s.csv", labels="diagnosis"),
            (table("r.csv", table_cell("diagnosis", 4, np.nan)), table("s.csv")),
            ("missing label",),
        ),
        Case(
            entry,
            "table-other-columns",
            evaluate("{d}/r.csv", "{d}/s.csv", labels="diagnosis"),
            (table("r.csv"), table("s.csv", lambda f: f.drop(columns=["crp"]))),
            ("column",),
        ),
        Case(
            entry,
            "html-in-labels-genes-and-file-name",
            evaluate(f"{{d}}/{FILE_PAYLOAD}.h5ad", "{d}/s.h5ad"),
            (cells(f"{FILE_PAYLOAD}.h5ad", html_names), cells("s.h5ad", html_names)),
            hostile=True,
            safe_check=lambda d: _report_is_safe(d / "out"),
        ),
    ]


def _cases_report() -> list[Case]:
    entry = "report"

    def report(*extra: str, real: str = "{d}/r.h5ad", out: str = "{d}/out") -> tuple[str, ...]:
        return (
            "report",
            "{d}/m",
            "--real",
            real,
            "--out",
            out,
            "--embedding",
            "pca",
            "--device",
            "cpu",
            *extra,
        )

    ok = (model(), cells("r.h5ad"))
    return [
        Case(
            entry,
            "flipped-model-pt",
            report(),
            (model(damage=flip("model.pt")), cells("r.h5ad")),
            ("damaged",),
            hostile=True,
        ),
        Case(
            entry,
            "pickle-model-pt",
            report(),
            (model(damage=pickle_payload("model.pt")), cells("r.h5ad")),
            ("cannot be read", "corrupt", "not a biogan"),
            hostile=True,
        ),
        Case(entry, "missing-model", report(), (cells("r.h5ad"),), ("does not exist",)),
        Case(
            entry,
            "real-missing-genes",
            report(),
            (model(), cells("r.h5ad", other_genes(N_GENES))),
            ("lacks",),
        ),
        Case(entry, "real-garbage", report(), (model(), garbage("r.h5ad")), ("cannot read",), hostile=True),
        Case(entry, "real-nan-counts", report(), (model(), cells("r.h5ad", set_x(np.nan))), ("nan",)),
        Case(entry, "real-nan-label", report(), (model(), cells("r.h5ad", nan_label)), ("missing label",)),
        Case(entry, "n-zero", report("-n", "0"), ok, ("at least 1",)),
        Case(entry, "out-is-model", report(out="{d}/m"), ok, ("would overwrite the input",)),
        Case(entry, "out-under-a-file", report(out="{d}/f/out"), (*ok, raw("f", "x")), ("cannot write",)),
        Case(entry, "out-in-proc", report(out="/proc/biogan-x"), ok, ("cannot write",)),
        Case(entry, "embedding-tsne", report("--embedding", "tsne"), ok, ("unknown --embedding",)),
        Case(
            entry,
            "table-real-missing-columns",
            report(real="{d}/r.csv"),
            (model(kind="table"), table("r.csv", lambda f: f.drop(columns=["crp"]))),
            ("lacks",),
        ),
        Case(
            entry,
            "html-in-labels-genes-and-names",
            (
                "report",
                f"{{d}}/{FILE_PAYLOAD}",
                "--real",
                f"{{d}}/{FILE_PAYLOAD}.h5ad",
                "--out",
                "{d}/out",
                "--embedding",
                "pca",
                "--device",
                "cpu",
            ),
            (model(FILE_PAYLOAD, kind="html"), cells(f"{FILE_PAYLOAD}.h5ad", html_names)),
            hostile=True,
            safe_check=lambda d: _report_is_safe(d / "out"),
        ),
    ]


def _cases_compare() -> list[Case]:
    entry = "compare"

    def compare(*extra: str, data: str = "{d}/cells.h5ad", out: str = "{d}/out") -> tuple[str, ...]:
        return (
            "compare",
            data,
            "--labels-key",
            "cell_type",
            "--out",
            out,
            "--models",
            "gaussian",
            "--gan-seconds",
            "1",
            "--embedding",
            "pca",
            "--device",
            "cpu",
            *extra,
        )

    return [
        Case(entry, "unknown-model", compare("--models", "gan,diffusion"), (cells(),), ("unknown model",)),
        Case(entry, "test-size-2", compare("--test-size", "2"), (cells(),), ("between 0 and 1",)),
        Case(
            entry,
            "garbage-input",
            compare(data="{d}/x.h5ad"),
            (garbage("x.h5ad"),),
            ("cannot read",),
            hostile=True,
        ),
        Case(
            entry,
            "missing-label-column",
            (
                "compare",
                "{d}/cells.h5ad",
                "--labels-key",
                "celltype",
                "--out",
                "{d}/out",
                "--models",
                "gaussian",
                "--embedding",
                "pca",
            ),
            (cells(),),
            ("no obs column",),
        ),
        Case(entry, "nan-label", compare(), (cells(change=nan_label),), ("missing label",)),
        Case(entry, "one-cell-class", compare(), (cells(change=one_cell_class),), ("single cell",)),
        Case(entry, "nan-counts", compare(), (cells(change=set_x(np.nan)),), ("nan",)),
        Case(
            entry, "out-is-input", compare(out="{d}/cells.h5ad"), (cells(),), ("would overwrite the input",)
        ),
        Case(
            entry, "out-under-a-file", compare(out="{d}/f/out"), (cells(), raw("f", "x")), ("cannot write",)
        ),
        Case(entry, "embedding-tsne", compare("--embedding", "tsne"), (cells(),), ("unknown --embedding",)),
    ]


def _cases_demo() -> list[Case]:
    entry = "demo"
    demo = ("demo", "--device", "cpu")
    return [
        Case(entry, "max-steps-0", (*demo, "--out", "{d}/out", "--max-steps", "0"), (), ("at least 1",)),
        Case(
            entry, "max-steps-negative", (*demo, "--out", "{d}/out", "--max-steps", "-3"), (), ("at least 1",)
        ),
        Case(entry, "out-under-a-file", (*demo, "--out", "{d}/f/out"), (raw("f", "x"),), ("cannot write",)),
        Case(entry, "out-in-proc", (*demo, "--out", "/proc/biogan-x"), (), ("cannot write",)),
        Case(entry, "out-is-a-file", (*demo, "--out", "{d}/f"), (raw("f", "x"),), ("not a folder",)),
        Case(entry, "unknown-device", ("demo", "--out", "{d}/out", "--device", "tpu"), (), ("device 'tpu'",)),
    ]


VAE_CASES = {
    "garbage-h5ad",
    "nan-counts",
    "non-integer-counts",
    "counts-beyond-int32",
    "few-cells",
    "missing-label-column",
    "nan-label",
    "one-cell-class",
    "continuous-labels",
    "out-under-a-file",
    "max-steps-0",
    "unknown-setting",
    "setting-wrong-type",
}
"""The VAE shares the readers and output checks with the GAN: only its data rules and settings are tried."""


def all_cases() -> list[Case]:
    """The whole corpus, grouped by entry point in the order of the table."""
    vae = [case for case in _cases_train_cells("train vae", VAE_SET) if case.name in VAE_CASES]
    return [
        *_cases_train_cells("train expression", GAN_SET),
        *_cases_resume(),
        *vae,
        *_cases_train_table(),
        *_cases_train_sequence(),
        *_cases_train_genotype(),
        *_cases_train_structure(),
        *_cases_sample(),
        *_cases_augment(),
        *_cases_impute(),
        *_cases_evaluate(),
        *_cases_report(),
        *_cases_compare(),
        *_cases_demo(),
    ]


CASES = all_cases()
ENTRY_POINTS = list(dict.fromkeys(case.entry for case in CASES))


# ---------------------------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """What one case did: exit code, the terminal's text, an escaped exception, files it left."""

    case: Case
    exit_code: int | None
    output: str
    exception: str | None  # type and message of an exception other than SystemExit
    seconds: float
    timed_out: bool = False
    left: list[str] = field(default_factory=list)  # files created, changed or removed
    unsafe: str | None = None  # hostile content not neutralised

    @property
    def status(self) -> str:
        """clean | handled | accepted | traceback | unclear | hang | crash | unsafe."""
        if self.timed_out:
            return "hang"
        if self.exit_code is None:
            return "crash"
        if self.exception is not None or "Traceback (most recent call last)" in self.output:
            return "traceback"
        if self.case.safe_check is not None:
            return "unsafe" if self.unsafe or self.exit_code != 0 else "handled"
        if self.exit_code == 0:
            return "accepted"
        lines = self.output.strip("\n").split("\n")
        one_line = len(lines) == 1 and lines[0].startswith("error:") and self.output.count("\n") <= 1
        wanted = any(f.lower() in self.output.lower() for f in self.case.expect)
        return "clean" if self.exit_code == 2 and one_line and wanted else "unclear"

    @property
    def partial(self) -> bool:
        """Files left behind by a failed command (a handled or accepted one writes its outputs)."""
        return bool(self.left) and self.status not in ("handled", "accepted")

    @property
    def passed(self) -> bool:
        return self.status in ("clean", "handled") and not self.partial

    def describe(self) -> str:
        parts = [f"{self.case.id}: {self.status} (exit {self.exit_code}, {self.seconds:.1f} s)"]
        if self.exception:
            parts.append(f"exception {self.exception}")
        if self.unsafe:
            parts.append(self.unsafe)
        if self.left:
            parts.append(f"left {self.left[:5]}")
        if self.status == "unclear":
            parts.append(f"expected one 'error:' line with one of {list(self.case.expect)}")
        return "; ".join(parts) + "\n--- output ---\n" + self.output[-3000:]


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (paths relative to it)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    new = [f"+{p}" for p in after if p not in before]
    gone = [f"-{p}" for p in before if p not in after]
    edited = [f"~{p}" for p in before if p in after and before[p] != after[p]]
    return new + gone + edited


def run_case(case: Case, mat: Materials, folder: Path, timeout: float = 90.0) -> Outcome:
    """Set up ``case`` in ``folder`` (empty), run its command in a forked child, and judge the result."""
    import biogan.cli  # noqa: F401  imported once here, not in every child

    folder.mkdir(parents=True, exist_ok=True)
    for step in case.setup:
        step(folder, mat)
    before = snapshot(folder)
    args = [a.replace("{d}", str(folder)) for a in case.args]
    start = time.perf_counter()
    outcome = Outcome(case, *_run_forked(args, folder, timeout), seconds=0.0)
    outcome.seconds = time.perf_counter() - start
    if outcome.exit_code == -1:  # the child's own report of a timeout
        outcome.exit_code, outcome.timed_out = None, True
    outcome.left = changed_files(before, snapshot(folder))
    if (folder.parent / PWNED).exists() or (folder / PWNED).exists():
        outcome.unsafe = "a pickle payload in a model file ran"
    elif case.safe_check is not None:
        outcome.unsafe = case.safe_check(folder)
    return outcome


def _run_forked(args: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str | None]:
    """``(exit code, output, escaped exception)`` of ``biogan ARGS`` in a forked child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            payload = json.dumps(_child(args, cwd)).encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    data, timed_out = _read_until(read_end, time.monotonic() + timeout)
    os.close(read_end)
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return -1, data.decode(errors="replace"), None
    if os.WIFSIGNALED(status) or not data:
        died = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return None, f"child died (signal {died}, status {status})", None
    result = json.loads(data)
    return result["exit_code"], result["output"], result["exception"]


def _read_until(fd: int, deadline: float) -> tuple[bytes, bool]:
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


def _child(args: list[str], cwd: Path) -> dict[str, Any]:  # pragma: no cover - runs in the child
    """Run the command as a terminal user would see it: default warning filters, stdout and stderr of
    Python and of C libraries captured, one thread, memory capped (a runaway allocation fails here)."""
    import torch
    from typer.testing import CliRunner

    from biogan.cli import app

    os.chdir(cwd)
    torch.set_num_threads(1)
    _cap_memory(extra_bytes=8 << 30)
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        import sys

        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    with tempfile.TemporaryFile() as c_level:
        os.dup2(c_level.fileno(), 1)
        os.dup2(c_level.fileno(), 2)
        result = CliRunner().invoke(app, args)
        c_level.seek(0)
        extra = c_level.read().decode(errors="replace")
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    return {
        "exit_code": result.exit_code,
        "output": result.output + extra,
        "exception": f"{type(escaped).__name__}: {escaped}"[:500] if escaped is not None else None,
    }


def _cap_memory(extra_bytes: int) -> None:
    """Limit the address space to what is mapped now plus ``extra_bytes``."""
    try:
        size_kb = next(
            int(line.split()[1])
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmSize:")
        )
        limit = size_kb * 1024 + extra_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (OSError, ValueError, StopIteration):
        pass


# ---------------------------------------------------------------------------------------------- the table
def summary(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    """One row per entry point: tried, clean one-line errors, tracebacks, silent acceptances, unclear
    errors, hangs or crashes, partial files, and damaged / hostile files refused."""
    rows = []
    for entry in dict.fromkeys(o.case.entry for o in outcomes):
        mine = [o for o in outcomes if o.case.entry == entry]
        hostile = [o for o in mine if o.case.hostile]
        rows.append(
            {
                "entry point": f"biogan {entry}",
                "bad inputs tried": len(mine),
                "clean one-line errors": sum(o.status in ("clean", "handled") for o in mine),
                "tracebacks": sum(o.status == "traceback" for o in mine),
                "silent acceptances": sum(o.status == "accepted" for o in mine),
                "unclear errors": sum(o.status == "unclear" for o in mine),
                "hangs or crashes": sum(o.status in ("hang", "crash") for o in mine),
                "partial files": sum(o.partial for o in mine),
                "damaged/hostile refused or escaped": f"{sum(o.passed for o in hostile)}/{len(hostile)}",
            }
        )
    frame = pd.DataFrame(rows)
    total: dict[str, Any] = {"entry point": "**all**"}
    for column in frame.columns[1:-1]:
        total[column] = int(frame[column].sum())
    hostile = [o for o in outcomes if o.case.hostile]
    total["damaged/hostile refused or escaped"] = f"{sum(o.passed for o in hostile)}/{len(hostile)}"
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
