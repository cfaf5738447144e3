"""``biogan evaluate``, ``biogan report`` and ``biogan compare``: metrics and one HTML report.

``evaluate`` and ``report`` work for every data kind of :data:`biogan.data.kinds.KINDS` (cells, tables,
sequences, genotypes, structures; the file suffix tells which, see :func:`input_kind`) and a sampler
(:data:`REPORT_INPUTS`, chosen by the model's ``data_kind``); ``compare`` trains count models and stays
cells-only. Plain functions with typer annotations; :mod:`biogan.cli` registers them as commands.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anndata as ad
import pandas as pd
import typer

from biogan._cli_utils import friendly_errors, parse_composition, pick_layer, split_names
from biogan.data.genotypes import GenotypeSet, attach_labels, read_genotypes, read_samples_file
from biogan.data.kinds import KINDS
from biogan.data.readers import read_table
from biogan.data.sequences import read_fasta
from biogan.data.structures import STRUCTURE_SUFFIXES, StructureSet, read_structures
from biogan.data.validation import (
    MIN_CLASS_SIZE,
    check_class_sizes,
    check_counts,
    check_no_missing_labels,
    check_not_continuous,
)
from biogan.errors import CheckpointError, GeneMismatchError, InvalidDataError, UnknownLabelError

MODEL_CHOICES = ("gan", "vae", "nb", "gaussian", "copula")
REPORT_FILE, METRICS_FILE = "report.html", "metrics.csv"
FALLBACK_KIND = "cells"  # a file no other kind claims: 10x folders, .h5, .mtx, text count matrices
AMBIGUOUS_SUFFIXES = (".txt",)  # a table or a text count matrix: read as cells unless --kind says so
KIND_CHOICES = ("auto", *KINDS)


# ---------------------------------------------------------------------------------------- helpers
def read_counts(path: Path, layer: str | None = None) -> ad.AnnData:
    """Read cells and put the raw counts (``layer``, else ``counts``, else ``.X``) in ``layers["counts"]``."""
    from biogan.data import read_cells
    from biogan.data.anndata import get_matrix

    adata = read_cells(path)
    adata.layers["counts"] = get_matrix(adata, pick_layer(adata, layer))
    return adata


def overall_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The overall rows as metric x (control, value or per-model values) for printing."""
    overall = metrics[metrics["scope"] == "overall"]
    if "model" not in overall:
        return overall.set_index("metric")[["value", "control", "verdict"]]
    wide = overall.pivot_table(index="metric", columns="model", values="value", sort=False)
    wide.insert(0, "control", overall.drop_duplicates("metric").set_index("metric")["control"])
    return wide


def _echo_table(metrics: pd.DataFrame) -> None:
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        typer.echo(overall_table(metrics).round(3).to_string())


def _write_outputs(out: Path, metrics: pd.DataFrame, **report: Any) -> Path:
    from biogan._utils import atomic_write
    from biogan.report.html import write_report

    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / METRICS_FILE, lambda p: metrics.to_csv(p, index=False), suffix=".csv")
    return write_report(out / REPORT_FILE, metrics=metrics, png_dir=out, **report)


def read_input(
    path: Path,
    kind: str,
    layer: str | None = None,
    index: bool = True,
    label_regex: str | None = None,
    samples_file: Path | None = None,
    labels_key: str | None = None,
    what: str = "real",
    fragment_length: int | None = None,
) -> Any:
    """Read ``path`` as ``kind`` (``"auto"``: :func:`input_kind`) with the kind's reader in
    :data:`~biogan.data.kinds.KINDS`; cells keep their raw counts in ``layers["counts"]``, sequences take
    their labels from the FASTA headers with ``label_regex``, genotypes (VCF/BCF, ``.hapt``) from the
    ``labels_key`` column of the ``samples_file`` panel (:func:`label_genotypes`; ``what`` names the
    input), structures are cut into fragments of ``fragment_length`` (:func:`structure_fragments`)."""
    kind = input_kind(path, kind)
    if kind == "structures":
        return structure_fragments(read_structures(path), fragment_length, what)
    if kind == "cells":
        return read_counts(path, layer)
    if kind == "sequences":
        return read_fasta(path, label_regex=label_regex)
    if kind == "genotypes":
        return label_genotypes(read_genotypes(path), samples_file, labels_key, what)
    return KINDS[kind].read(path, index=index)


def label_genotypes(
    data: GenotypeSet, samples_file: Path | None, labels_key: str | None, what: str = "real"
) -> GenotypeSet:
    """``data`` labelled from a sample panel when every sample is in it, else left unlabelled.

    Synthetic VCFs written by biogan carry no panel entries, so a sample missing from the panel leaves
    that input unlabelled (with a warning for real data, where it costs the per-label metrics) instead of
    failing. Only real data none of whose samples the panel lists is an error: the wrong panel.

    Raises
    ------
    InvalidDataError
        Only one of ``samples_file`` and ``labels_key``, an unreadable panel, or none of the real samples
        in it.
    """
    if (samples_file is None) != (labels_key is None):
        raise InvalidDataError(
            "genotypes take labels from a panel: give both --samples-file and --labels-key"
        )
    if samples_file is None or labels_key is None:
        return data
    panel = read_samples_file(samples_file, labels_key)
    found = sum(sample in panel for sample in data.samples)
    if found == len(data) or (what == "real" and found == 0):
        return attach_labels(data, panel, str(samples_file))  # raises when none is listed
    if what != "synthetic":
        warnings.warn(
            f"{found} of the {len(data)} {what} samples are in {samples_file}: the {what} genotypes are "
            "left unlabelled (no per-label metrics)",
            UserWarning,
            stacklevel=2,
        )
    return data


def structure_fragments(data: StructureSet, length: int | None, what: str = "real") -> StructureSet:
    """``data`` as fragments of ``length`` residues (every ``length // 16``): as it is when it already
    is; without ``length``, only a set of fragments of one length (generated ones) is accepted."""
    if length is None:
        if data.fragment_length is None:
            raise InvalidDataError(
                f"the {what} structures are whole chains: give --fragment-length to cut them into fragments"
            )
        return data
    return data if data.fragment_length == length else data.fragments(length)


def input_kind(path: Path, kind: str = "auto") -> str:
    """The data kind of an input file: ``kind`` itself unless it is ``"auto"``, else the kind whose file
    suffixes (:data:`~biogan.data.kinds.KINDS`) end the name -- .csv/.tsv a table, FASTA sequences --,
    structures for a folder of PDB/mmCIF files, and cells for anything else (a .txt file included)."""
    if kind not in KIND_CHOICES:
        raise InvalidDataError(f"unknown --kind {kind!r}: use {', '.join(KIND_CHOICES)}")
    if kind != "auto":
        return kind
    if path.is_dir() and any(p.name.lower().endswith(STRUCTURE_SUFFIXES) for p in path.iterdir()):
        return "structures"
    name = path.name.lower()
    if name.endswith(AMBIGUOUS_SUFFIXES):
        return FALLBACK_KIND
    claimed = [k.name for k in KINDS.values() if k.name != FALLBACK_KIND and name.endswith(k.suffixes)]
    return claimed[0] if claimed else FALLBACK_KIND


def table_options(kind: str, composition: str | None, conditions: str | None) -> dict[str, Any]:
    """``--composition`` and ``--conditions`` as options of :func:`biogan.evaluate` (none when unset).

    Raises
    ------
    InvalidDataError
        Either given for data that are not a table.
    """
    if composition is None and conditions is None:
        return {}
    if kind != "table":
        raise InvalidDataError(f"--composition and --conditions are for tables (.csv/.tsv), not {kind}")
    return {
        "composition": parse_composition(composition),
        "conditions": split_names(conditions) or None,
    }


def _composition(adata: ad.AnnData, labels_key: str | None) -> dict[str, int] | None:
    if labels_key is None:
        return None
    if labels_key not in adata.obs:
        raise UnknownLabelError(f"the real cells have no obs column {labels_key!r}")
    check_no_missing_labels(adata.obs[labels_key], labels_key, "cell")  # before sampling, not after
    return {str(k): int(v) for k, v in adata.obs[labels_key].astype(str).value_counts().items()}


# ---------------------------------------------------------------------------------------- model inputs
@dataclass
class ReportInputs:
    """What ``biogan report`` judges: real data, the model's samples like them, training data, labels."""

    real: Any
    synth: Any
    train: Any
    labels_key: Any


def _cell_inputs(
    model: Any, real: Path, train: Path | None, n: int | None, seed: int, layer: str | None, index: bool
) -> ReportInputs:
    """Cells with the model's genes; samples with the real cells' composition (or ``n`` cells)."""
    real_cells = _model_genes(read_counts(real, layer), model.genes, "--real")
    train_cells = _model_genes(read_counts(train, layer), model.genes, "--train") if train else None
    labels_key = model.labels_key if model.labels_key in real_cells.obs else None
    if n is None and labels_key is not None:
        synth = model.sample(labels=_composition(real_cells, labels_key), seed=seed)
    else:
        synth = model.sample(n=n or real_cells.n_obs, seed=seed)
    return ReportInputs(real_cells, synth, train_cells, labels_key)


def _table_inputs(
    model: Any, real: Path, train: Path | None, n: int | None, seed: int, layer: str | None, index: bool
) -> ReportInputs:
    """Tables with the model's columns; samples with the real table's label counts (or ``n`` rows)."""
    real_rows = _model_columns(read_table(real, index), model.columns, "--real")
    train_rows = _model_columns(read_table(train, index), model.columns, "--train") if train else None
    labels_key = model.labels_key if model.labels_key in real_rows.columns else None
    if n is None and labels_key is not None:
        check_no_missing_labels(real_rows[labels_key], labels_key, "row")  # before sampling, not after
        counts = real_rows[labels_key].value_counts()
        synth = model.sample(labels={label: int(k) for label, k in counts.items()}, seed=seed)
    else:
        synth = model.sample(n=n or len(real_rows), seed=seed)
    return ReportInputs(real_rows, synth, train_rows, labels_key)


def _sequence_inputs(
    model: Any, real: Path, train: Path | None, n: int | None, seed: int, layer: str | None, index: bool
) -> ReportInputs:
    """FASTA read in the model's alphabet (labels by its ``label_regex``); samples as many sequences per
    label as the real FASTA holds when it has labels, else ``n`` (default: as many as real) sequences."""

    def read(path: Path) -> Any:
        return read_fasta(path, alphabet=model.alphabet, label_regex=model.label_regex)

    real_seqs = read(real)
    train_seqs = read(train) if train else None
    if n is None and real_seqs.labels is not None:  # labels only come with a model's label_regex
        counts = Counter(real_seqs.labels.tolist())
        synth = model.sample(labels={label: int(k) for label, k in counts.items()}, seed=seed)
    else:
        synth = model.sample(n=n or len(real_seqs), seed=seed)
    return ReportInputs(real_seqs, synth, train_seqs, None if real_seqs.labels is None else "label")


def _genotype_inputs(
    model: Any, real: Path, train: Path | None, n: int | None, seed: int, layer: str | None, index: bool
) -> ReportInputs:
    """VCF/BCF/.hapt labelled from the model's panel (when it has one and the file is there) and cut to
    the model's SNPs; samples as many individuals per label as the real data hold when both the model
    (its ``categories``) and the real data have labels, else ``n`` (default: as many as real)."""
    from biogan.metrics.genotypes import align_variants

    panel, key = getattr(model, "samples_file", None), getattr(model, "labels_key", None)
    if panel is not None and not Path(panel).is_file():
        warnings.warn(f"the model's samples file {panel} is gone: genotypes left unlabelled", stacklevel=2)
        panel = key = None

    def read(path: Path, what: str) -> GenotypeSet:
        return label_genotypes(read_genotypes(path), panel, key if panel else None, what)

    real_gt = read(real, "real")
    train_gt = read(train, "training") if train else None
    categories = {c for c in getattr(model, "categories", [""]) if c}
    labels = None if real_gt.labels is None else Counter(real_gt.labels.tolist())
    if n is None and labels is not None and categories and set(labels) <= categories:
        synth = model.sample(labels={label: int(k) for label, k in labels.items()}, seed=seed)
    else:
        synth = model.sample(n=n or len(real_gt), seed=seed)
    # A VCF may hold more SNPs than the model was trained on: judge it at the model's SNPs.
    real_gt = align_variants(real_gt, synth.variants, "--real", drop_extra=True, reference="the model's")
    if train_gt is not None:
        train_gt = align_variants(
            train_gt, synth.variants, "--train", drop_extra=True, reference="the model's"
        )
    return ReportInputs(real_gt, synth, train_gt, None if real_gt.labels is None else (key or "label"))


def _structure_inputs(
    model: Any, real: Path, train: Path | None, n: int | None, seed: int, layer: str | None, index: bool
) -> ReportInputs:
    """Structures cut into fragments of the model's length; ``n`` generated fragments (default: as many
    as the real fragments, at most 1,000: each is refined into a backbone)."""
    length = model.config.fragment_length
    real_set = structure_fragments(read_structures(real), length)
    train_set = structure_fragments(read_structures(train), length, "training") if train else None
    synth = model.sample(n or min(len(real_set), 1000), seed=seed)
    return ReportInputs(real_set, synth, train_set, None)


REPORT_INPUTS: dict[str, Callable[..., ReportInputs]] = {
    "cells": _cell_inputs,
    "table": _table_inputs,
    "sequences": _sequence_inputs,
    "genotypes": _genotype_inputs,
    "structures": _structure_inputs,
}
"""A model class's ``data_kind`` -> how ``biogan report`` reads the real data and samples the model."""


def _model_genes(adata: ad.AnnData, genes: list[str], option: str) -> ad.AnnData:
    missing = [g for g in genes if g not in set(adata.var_names)]
    if missing:
        raise GeneMismatchError(
            f"{option} lacks {len(missing)} of the model's {len(genes)} genes (e.g. {missing[:3]})"
        )
    return adata[:, genes].copy()


def _model_columns(frame: pd.DataFrame, columns: list[Any], option: str) -> pd.DataFrame:
    """``frame`` cut to the model's columns (in its order); extra columns (ids, notes) are left out."""
    by_name = {str(c): c for c in frame.columns}  # a saved model may hold column names as text
    missing = [c for c in columns if c not in frame.columns and str(c) not in by_name]
    if missing:
        raise InvalidDataError(
            f"{option} lacks {len(missing)} of the model's {len(columns)} columns (e.g. {missing[:3]})"
        )
    picked = [c if c in frame.columns else by_name[str(c)] for c in columns]
    return frame[picked].set_axis(columns, axis=1)


EMBEDDINGS = ("umap", "pca")
Overwrite = Annotated[bool, typer.Option(help="Replace the files of an existing output folder")]
Composition = Annotated[
    str | None,
    typer.Option(
        help="Tables: columns that are parts of a whole (e.g. a white-cell differential or genus counts), "
        "compared as compositions: 'a,b,c' one group, 'a,b;c,d' two groups, 'name=a,b;other=c,d' named "
        "groups, or 'all-numeric' (every numeric column but the label and the conditions)"
    ),
]
Conditions = Annotated[
    str | None,
    typer.Option(
        help="Tables: comma-separated numeric columns (e.g. age) whose relation to every composition part "
        "is compared; needs --composition"
    ),
]


def _check_before_work(out: Path, inputs: list[Path | None], overwrite: bool, embedding: str) -> None:
    """Refuse a bad --embedding or an --out that is an input or not writable, before any metric runs."""
    from biogan._utils import check_output

    if embedding not in EMBEDDINGS:
        raise InvalidDataError(f"unknown --embedding {embedding!r}: use {' or '.join(EMBEDDINGS)}")
    check_output(out, inputs, overwrite=overwrite, folder=True)


# ---------------------------------------------------------------------------------------- commands
@friendly_errors
def evaluate_command(
    real: Annotated[
        Path,
        typer.Argument(
            help="Real data, ideally not used for training: cells (.h5ad, 10x), a table (.csv/.tsv), "
            "sequences (FASTA) or genotypes (VCF/BCF, .hapt)"
        ),
    ],
    synth: Annotated[
        Path, typer.Argument(help="Synthetic data with the same genes / columns / SNPs (or alphabet)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, metrics.csv and PNGs")],
    labels_key: Annotated[
        str | None,
        typer.Option(help="Column with labels (obs column for cells; genotypes: column of --samples-file)"),
    ] = None,
    train: Annotated[
        Path | None, typer.Option(help="The model's training data: control and privacy check use them")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="auto (.csv/.tsv = table, FASTA = sequences, VCF/BCF/.hapt = genotypes, a folder of "
            ".pdb/.cif = structures, else cells), cells, table, sequences, genotypes or structures"
        ),
    ] = "auto",
    index: Annotated[bool, typer.Option(help="Tables: the first column holds row names")] = True,
    layer: Annotated[
        str | None, typer.Option(help="Cells: layer with raw counts (default: 'counts' or X)")
    ] = None,
    embedding: Annotated[str, typer.Option(help="Cells: umap or pca")] = "umap",
    label_regex: Annotated[
        str | None,
        typer.Option(
            help="Sequences: regular expression whose (first) group in each FASTA header is the label"
        ),
    ] = None,
    samples_file: Annotated[
        Path | None,
        typer.Option(
            help="Genotypes: sample panel with a header (1000 Genomes: sample pop super_pop gender) "
            "labelling the samples by its --labels-key column; an input with samples it lacks (synthetic "
            "VCFs) stays unlabelled"
        ),
    ] = None,
    fragment_length: Annotated[
        int | None,
        typer.Option(
            help="Structures: cut chains into fragments of this many residues (default: the length of "
            "the synthetic fragments)"
        ),
    ] = None,
    composition: Composition = None,
    conditions: Conditions = None,
    seed: Annotated[int, typer.Option()] = 0,
    overwrite: Overwrite = False,
) -> None:
    """Compare synthetic with real data: metric table with controls and an HTML report."""
    from biogan.metrics import evaluate

    _check_before_work(out, [real, synth, train, samples_file], overwrite, embedding)
    kind = input_kind(real, kind)
    options = table_options(kind, composition, conditions)
    if samples_file is not None and kind != "genotypes":
        raise InvalidDataError(f"--samples-file labels genotypes (VCF/BCF, .hapt), not {kind}")
    panel = (samples_file, labels_key) if kind == "genotypes" else (None, None)

    if kind == "structures" and fragment_length is None:  # cut the real chains like the synthetic ones
        fragment_length = read_input(synth, kind, what="synthetic").fragment_length

    def read(path: Path, what: str) -> Any:
        return read_input(path, kind, layer, index, label_regex, *panel, what, fragment_length)

    real_data = read(real, "real")
    synth_data = read(synth, "synthetic")
    train_data = read(train, "training") if train is not None else None
    metrics = evaluate(
        real_data, synth_data, labels_key=labels_key, train=train_data, seed=seed, kind=kind, **options
    )
    path = _write_outputs(
        out,
        metrics,
        real=real_data,
        synth=synth_data,
        train=train_data,
        labels_key=labels_key,
        title=f"biogan evaluate: {synth.name} vs {real.name}",
        embedding_method=embedding,
        seed=seed,
        kind=kind,
        **options,
    )
    _echo_table(metrics)
    typer.echo(f"report: {path}")


@friendly_errors
def report_command(
    model_dir: Annotated[
        Path, typer.Argument(help="Folder written by 'biogan train' (GAN, VAE or table GAN)")
    ],
    real: Annotated[Path, typer.Option(help="Real data to compare with (ideally held out from training)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, metrics.csv and PNGs")],
    n: Annotated[
        int | None,
        typer.Option(
            "-n",
            help="Cells / rows / sequences (genotypes: samples) to generate (default: as many as --real, "
            "per label)",
        ),
    ] = None,
    train: Annotated[Path | None, typer.Option(help="The training data (control and privacy check)")] = None,
    index: Annotated[bool, typer.Option(help="Tables: the first column holds row names")] = True,
    layer: Annotated[
        str | None, typer.Option(help="Cells: layer with raw counts (default: 'counts' or X)")
    ] = None,
    embedding: Annotated[str, typer.Option(help="Cells: umap or pca")] = "umap",
    composition: Composition = None,
    conditions: Conditions = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Sample a trained model like the real data and report metrics, pictures and training curves."""
    from biogan._utils import resolve_device
    from biogan.metrics import evaluate
    from biogan.models import load_model

    if n is not None and n < 1:
        raise InvalidDataError(f"-n must be at least 1, not {n}")
    resolve_device(device)
    _check_before_work(out, [model_dir, real, train], overwrite, embedding)
    model = load_model(model_dir, device)
    kind = getattr(model, "data_kind", None)
    if kind not in REPORT_INPUTS:
        raise CheckpointError(
            f"{model_dir} holds a {type(model).__name__} for {kind!r} data; 'biogan report' reads "
            f"models for {', '.join(REPORT_INPUTS)}"
        )
    options = table_options(kind, composition, conditions)
    inputs = REPORT_INPUTS[kind](model, real, train, n, seed, layer, index)
    metrics = evaluate(
        inputs.real,
        inputs.synth,
        labels_key=inputs.labels_key,
        train=inputs.train,
        seed=seed,
        kind=kind,
        **options,
    )
    path = _write_outputs(
        out,
        metrics,
        real=inputs.real,
        synth=inputs.synth,
        train=inputs.train,
        labels_key=inputs.labels_key,
        model=model_dir,
        title=f"biogan report: {type(model).__name__} in {model_dir.name}",
        embedding_method=embedding,
        seed=seed,
        kind=kind,
        **options,
    )
    _echo_table(metrics)
    typer.echo(f"report: {path}")


@friendly_errors
def compare_command(
    cells: Annotated[Path, typer.Argument(help="All cells (.h5ad, 10x, csv) with raw counts")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, metrics.csv, models")],
    labels_key: Annotated[
        str | None, typer.Option(help="obs column with cell types (stratifies the split)")
    ] = None,
    models: Annotated[
        str, typer.Option(help=f"Comma-separated, from {', '.join(MODEL_CHOICES)}")
    ] = "gan,vae,gaussian",
    test_size: Annotated[float, typer.Option(help="Share of cells held out for judging")] = 0.5,
    gan_seconds: Annotated[float, typer.Option(help="Training budget of the GAN")] = 300.0,
    vae_seconds: Annotated[
        float | None, typer.Option(help="Training budget of the VAE (default: epochs)")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")] = None,
    embedding: Annotated[str, typer.Option(help="umap or pca")] = "umap",
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    overwrite: Overwrite = False,
) -> None:
    """Train several models on the same training split and judge them on the held-out cells."""
    from biogan._utils import resolve_device
    from biogan.data import stratified_split
    from biogan.metrics import evaluate_many
    from biogan.models import ExpressionGAN

    resolve_device(device)
    _check_before_work(out, [cells], overwrite, embedding)
    names = [m.strip().lower() for m in models.split(",") if m.strip()]
    unknown = sorted(set(names) - set(MODEL_CHOICES))
    if unknown or not names:
        raise InvalidDataError(f"unknown model(s) {unknown}: choose from {', '.join(MODEL_CHOICES)}")
    if not 0 < test_size < 1:
        raise InvalidDataError(f"--test-size must be between 0 and 1, not {test_size}")
    adata = read_counts(cells, layer)
    if labels_key is not None and labels_key not in adata.obs:
        raise UnknownLabelError(f"{cells} has no obs column {labels_key!r}")
    # Everything the models would refuse, checked on the whole data before the split and any training.
    check_counts(adata.layers["counts"], f"the counts of {cells}")
    if labels_key is not None:
        labels = adata.obs[labels_key]
        check_no_missing_labels(labels, labels_key, "cell")
        check_not_continuous(labels, labels_key)
        check_class_sizes(labels, labels_key)
        sizes = labels.astype(str).value_counts()
        few = sorted(sizes.index[sizes < 2 * MIN_CLASS_SIZE])
        if few:
            raise InvalidDataError(
                f"compare splits every label between training and judging, so each needs at least "
                f"{2 * MIN_CLASS_SIZE} cells; {few[:5]} have fewer: merge or drop them"
            )
    train, held = stratified_split(adata, labels_key, test_size=test_size, seed=seed)
    ExpressionGAN.setup_anndata(train, layer="counts", labels_key=labels_key)
    composition = _composition(held, labels_key)
    synths, fitted, times = {}, {}, []
    for name in dict.fromkeys(names):
        typer.echo(f"training {name} on {train.n_obs} cells ...")
        start = time.perf_counter()
        model = _fit_one(name, train, seed, device, gan_seconds, vae_seconds, out / "models" / name)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        synths[name] = (
            model.sample(labels=composition, seed=seed)
            if composition
            else model.sample(n=held.n_obs, seed=seed)
        )
        times.append({"model": name, "fit_s": fit_s, "sample_s": time.perf_counter() - start})
        if hasattr(model, "history"):
            fitted[name] = model
    metrics = evaluate_many(held, synths, labels_key=labels_key, train=train, seed=seed)
    path = _write_outputs(
        out,
        metrics,
        real=held,
        synth=synths,
        labels_key=labels_key,
        model=fitted or None,
        extra_tables={"Wall time (seconds)": pd.DataFrame(times)},
        title=f"biogan compare on {cells.name}: {', '.join(synths)}",
        embedding_method=embedding,
        seed=seed,
    )
    _echo_table(metrics)
    typer.echo(pd.DataFrame(times).round(2).to_string(index=False))
    typer.echo(f"report: {path}")


def _fit_one(
    name: str,
    train: ad.AnnData,
    seed: int,
    device: str,
    gan_seconds: float,
    vae_seconds: float | None,
    save_dir: Path,
) -> Any:
    """Fit one model of the comparison (GAN and VAE are also saved to ``save_dir``)."""
    from biogan.models import ExpressionGAN
    from biogan.models.baselines import BASELINES
    from biogan.models.vae import ExpressionVAE

    if name == "gan":
        model = ExpressionGAN(train, seed=seed, device=device)
        model.fit(max_steps=10**9, max_seconds=gan_seconds)
    elif name == "vae":
        model = ExpressionVAE(train, seed=seed, device=device).fit(max_seconds=vae_seconds)
    else:
        return BASELINES[name](seed=seed).fit(train)
    model.save(save_dir)
    return model


__all__ = [
    "REPORT_INPUTS",
    "compare_command",
    "evaluate_command",
    "read_input",
    "report_command",
    "table_options",
]
