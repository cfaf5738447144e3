"""One self-contained HTML report: data summary, metrics with controls and verdicts, pictures, the model.

The metrics, model and training sections are the same for every data kind; the data summary and the
pictures come from the kind's entry in :data:`REPORT_KINDS` (cells, tables, sequences, genotypes,
structures). Images are embedded as base64 PNG, so the single file opens offline in any browser and can
be mailed. The file is written atomically (a crash never leaves half a report).
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

import biogan
from biogan._utils import atomic_write
from biogan.errors import BioganError, InvalidDataError
from biogan.metrics.compositions import check_parts, composition_columns
from biogan.metrics.counts import cells_from, gene_names
from biogan.metrics.engine import METRIC_SETS, OVERALL, MetricInfo, evaluate, kind_of, resolve_options
from biogan.metrics.genotypes import Genotypes, genotypes_from
from biogan.metrics.sequences import Sequences, sequences_from, uniqueness
from biogan.metrics.structures import Fragments, fragments_from
from biogan.metrics.tables import MISSING, NUMERIC, Table, table_from
from biogan.train.diagnostics import diagnose

SECTIONS = {
    "summary": "Data summary",
    "metrics": "Metrics against the real-vs-real control",
    "pictures": "Pictures",
    "model": "Model",
    "training": "Training curves and diagnostics",
    "tables": "More tables",
}
VERDICT_HELP = (
    "Each metric is computed twice with the same recipe and the same numbers of {noun}s: real vs synthetic "
    "(<b>value</b>) and real vs real (<b>control</b>: held-out vs training {noun}s, or two halves of the "
    "real {noun}s). The control is what a perfect generator would score. <b>good</b>: within sampling "
    "noise of the control; <b>borderline</b>: measurably worse; <b>poor</b>: far from real data."
)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1300px;
color:#222;padding:0 1em}h1{font-size:1.6em}
h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.good{background:#d9f2d9}.borderline{background:#fff1c2}.poor{background:#f8d0d0}.na{color:#888}
.alert{background:#b00020;color:#fff;padding:.8em 1em;border-radius:6px;font-weight:600}
.warn{background:#fff1c2;padding:.5em 1em;border-left:4px solid #e0a800;margin:.4em 0}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.9em}
.muted{color:#666;font-size:.9em}details{margin:.5em 0}
"""
Options = Mapping[str, Any]
"""The data kind's options of :func:`biogan.evaluate` (tables: ``composition``, ``conditions``, ...)."""
EMPTY: Options = MappingProxyType({})


# ---------------------------------------------------------------------------------------- model info
@dataclass
class ModelInfo:
    """What the report shows about a trained model."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = float("nan")
    steps: int | None = None
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)


def model_info(model: Any) -> ModelInfo:
    """Read a model folder (``config.json`` + ``history.csv``) or a fitted model object."""
    if isinstance(model, ModelInfo):
        return model
    if isinstance(model, (str, os.PathLike)):
        return _info_from_dir(Path(model))
    from biogan.models._config import config_to_dict

    config = getattr(model, "config", None)
    try:
        config_dict = config_to_dict(config) if config is not None else {}
    except TypeError:
        config_dict = {}
    if not config_dict and hasattr(model, "seed"):
        config_dict = {"seed": model.seed}
    history = getattr(model, "history", None)
    history = history if isinstance(history, pd.DataFrame) else pd.DataFrame()
    trainer = getattr(model, "trainer", None)
    stored = list(getattr(trainer, "warnings", None) or getattr(model, "warnings", None) or [])
    steps = getattr(trainer, "step", None) if trainer is not None else getattr(model, "_steps", None)
    return ModelInfo(
        name=type(model).__name__,
        config=config_dict,
        train_seconds=float(getattr(model, "train_seconds", float("nan"))),
        steps=steps,
        history=history,
        warnings=_with_diagnosis(stored, history),
    )


def _info_from_dir(path: Path) -> ModelInfo:
    from biogan.models._shared import read_history, read_metadata

    meta = read_metadata(path / "config.json", expected=None)
    history = read_history(path / "history.csv")
    return ModelInfo(
        name=str(meta.get("model", "model")),
        config=meta.get("config", {}),
        train_seconds=float(meta.get("train_seconds", float("nan"))),
        steps=meta.get("steps"),
        history=history,
        warnings=_with_diagnosis(list(meta.get("warnings", [])), history),
    )


def _with_diagnosis(stored: list[str], history: pd.DataFrame) -> list[str]:
    """Warnings issued during training plus any the diagnostics find in the final history."""
    found = diagnose(history.to_dict("records")) if not history.empty else []
    return list(dict.fromkeys([*stored, *found]))


# ---------------------------------------------------------------------------------------- HTML bits
def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return _e(value)


def figure_to_img(fig: Any, dpi: int = 90, alt: str = "figure") -> str:
    """An ``<img>`` tag holding ``fig`` as a base64 PNG, described by ``alt``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def table_html(frame: pd.DataFrame, verdict_columns: tuple[str, ...] = ()) -> str:
    """A plain HTML table; cells of ``verdict_columns`` get a class named after their verdict."""
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            if column in verdict_columns or str(column).endswith("verdict"):
                cells.append(f'<td class="{_e(str(value).replace("/", ""))}">{_e(value)}</td>')
            elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                cells.append(f'<td class="num">{_fmt(value)}</td>')
            else:
                cells.append(f"<td>{_fmt(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(SECTIONS[key])}</h2>\n{body}\n</section>'


# ---------------------------------------------------------------------------------------- sections
def _composition(labels: Mapping[str, np.ndarray | None], labels_key: str | None, noun: str) -> str:
    """Records (``noun``) per label in every set (empty when there are no labels)."""
    counts = {name: pd.Series(v).value_counts() for name, v in labels.items() if v is not None}
    if not counts:
        return ""
    comp = pd.DataFrame(counts).fillna(0).astype(int).rename_axis(labels_key).reset_index()
    return f"<h3>{_e(noun.capitalize())}s per {_e(labels_key)}</h3>" + table_html(comp)


def _metrics(metrics: pd.DataFrame, kind: ReportKind, infos: Mapping[str, MetricInfo]) -> str:
    body = f"<p>{VERDICT_HELP.format(noun=kind.noun)}</p>"
    described = metrics.assign(meaning=[_meaning(m, infos) for m in metrics["metric"]])
    overall = described[described["scope"] == OVERALL]
    per_scope = described[described["scope"] != OVERALL]
    body += _metric_table(overall, infos, with_meaning=True)
    if not per_scope.empty:
        body += (
            f"<details><summary>{_e(kind.scope_title)} ({per_scope['scope'].nunique()} "
            f"{_e(kind.scope_plural)})</summary>{_metric_table(per_scope, infos)}</details>"
        )
    return _section("metrics", body)


def _meaning(metric: str, infos: Mapping[str, MetricInfo]) -> str:
    return infos[metric].description if metric in infos else ""


def _metric_table(frame: pd.DataFrame, infos: Mapping[str, MetricInfo], with_meaning: bool = False) -> str:
    """Long table for one model; with a ``model`` column, one value and verdict column per model."""
    keys = ["metric", "scope"]
    if "model" not in frame.columns:
        columns = [*keys, "value", "control", "verdict"] + (["meaning"] if with_meaning else [])
        return table_html(frame[columns])
    wide = frame.drop_duplicates(keys)[[*keys, "control"]].set_index(keys)
    for name, group in frame.groupby("model", sort=False):
        part = group.set_index(keys)
        wide[f"{name}"] = part["value"]
        wide[f"{name} verdict"] = part["verdict"]
    wide = wide.reset_index()
    if with_meaning:
        wide["meaning"] = [_meaning(m, infos) for m in wide["metric"]]
    return table_html(wide)


Maker = tuple[str, str, Callable[[], Any]]
"""One picture: file stem, caption, and the function that draws it."""


def _pictures(
    kind: ReportKind,
    real: Any,
    synths: Mapping[str, Any],
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any,
    png_dir: Path | None,
    options: Mapping[str, Any],
) -> str:
    body = []
    for name, synth in synths.items():
        if len(synths) > 1:
            body.append(f"<h3>{_e(name)}</h3>")
        for key, caption, make in kind.pictures(real, synth, labels_key, method, seed, train, options):
            body.append(_figure(make, caption, png_dir, f"{_slug(name)}_{key}" if len(synths) > 1 else key))
    return _section("pictures", "\n".join(body))


# ---------------------------------------------------------------------------------------- cells
def _check_cells(
    real: ad.AnnData, synths: Mapping[str, ad.AnnData], labels_key: str | None, options: Options = EMPTY
) -> None:
    genes = gene_names(real)
    for name, data in synths.items():
        cells_from(data, name, labels_key, genes)


def _cells_summary(real: ad.AnnData, synths: Mapping[str, ad.AnnData], labels_key: str | None) -> str:
    rows, labels = [], {}
    for name, data in {"real": real, **synths}.items():
        cells = cells_from(data, name, labels_key)
        lib = cells.counts.sum(1)
        rows.append(
            {
                "set": name,
                "cells": len(cells),
                "genes": cells.counts.shape[1],
                "median library size": float(np.median(lib)),
                "zero fraction": float((cells.counts == 0).mean()),
            }
        )
        labels[name] = cells.labels
    return table_html(pd.DataFrame(rows)) + _composition(labels, labels_key, "cell")


def _cells_pictures(
    real: ad.AnnData,
    synth: ad.AnnData,
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any = None,
    options: Options = EMPTY,
) -> list[Maker]:
    from biogan import plot

    makers: list[Maker] = [
        (
            "embedding",
            f"{method.upper()} of real and synthetic cells (fit on real, synthetic projected)",
            lambda: plot.embedding(real, synth, labels_key, method=method, seed=seed),
        ),
    ]
    if labels_key:
        makers.append(
            (
                "markers",
                "Top marker genes of each label (found on real cells), real next to synthetic",
                lambda: plot.marker_dotplot(real, synth, labels_key),
            )
        )
    return [
        *makers,
        (
            "gene_mean_variance",
            "Per-gene mean and variance, synthetic against real (dashed: identity)",
            lambda: plot.gene_mean_variance_scatter(real, synth),
        ),
        (
            "library_zero",
            "Library sizes and per-cell zero fractions",
            lambda: plot.library_and_zero_histograms(real, synth),
        ),
        (
            "correlation",
            "Gene–gene correlations of the most variable genes, side by side",
            lambda: plot.correlation_heatmaps(real, synth),
        ),
    ]


# ---------------------------------------------------------------------------------------- tables
def _tables(
    real: pd.DataFrame, synths: Mapping[str, pd.DataFrame], labels_key: str | None
) -> dict[str, Table]:
    ref = table_from(real, "real", labels_key)
    return {"real": ref, **{name: table_from(d, name, labels_key, like=ref) for name, d in synths.items()}}


def _check_table(
    real: pd.DataFrame, synths: Mapping[str, pd.DataFrame], labels_key: str | None, options: Options = EMPTY
) -> None:
    """The tables, and the composition options with the parts of every set in full."""
    tables = _tables(real, synths, labels_key)
    groups, _ = _composition_columns(tables["real"], options)
    for name, table in tables.items():
        check_parts(table.frame, groups, f"{name} rows")


def _composition_columns(ref: Table, options: Options) -> tuple[dict[str, list[Any]], list[Any]]:
    return composition_columns(
        options.get("composition"), options.get("conditions"), ref.columns, ref.numeric, ref.labels_key
    )


def _table_summary(real: pd.DataFrame, synths: Mapping[str, pd.DataFrame], labels_key: str | None) -> str:
    tables = _tables(real, synths, labels_key)
    rows = [
        {
            "set": name,
            "rows": len(t),
            "columns": len(t.columns),
            "numeric": len(t.numeric),
            "categorical": len(t.categorical),
            "missing values": int(t.frame[t.numeric].isna().to_numpy().sum())
            + int((t.frame[t.categorical] == MISSING).to_numpy().sum()),
        }
        for name, t in tables.items()
    ]
    ref = tables["real"]
    columns = pd.DataFrame(
        {
            "column": [str(c) for c in ref.columns],
            "kind": [ref.kinds[c] for c in ref.columns],
            **{name: [_column_summary(t, c) for c in ref.columns] for name, t in tables.items()},
        }
    )
    return (
        table_html(pd.DataFrame(rows))
        + _composition({name: t.labels for name, t in tables.items()}, labels_key, "row")
        + f"<details><summary>Every column ({len(ref.columns)})</summary>{table_html(columns)}</details>"
    )


def _column_summary(table: Table, column: Any) -> str:
    """``mean ± SD`` of a numeric column; the number of categories and the commonest of a categorical one."""
    values = table.frame[column]
    if table.kinds[column] == NUMERIC:
        return f"{_fmt(float(values.mean()))} ± {_fmt(float(values.std()))}"
    shares = values.value_counts(normalize=True)
    return f"{len(shares)} categories; top {shares.index[0]!r} ({shares.iloc[0]:.0%})"


def _table_pictures(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any = None,
    options: Options = EMPTY,
) -> list[Maker]:
    from biogan import plot

    return [
        (
            "column_distributions",
            "Every column, real against synthetic: histograms of numeric columns, shares of categories",
            lambda: plot.column_distributions(real, synth, labels_key),
        ),
        (
            "column_correlations",
            "Column–column correlations (numeric columns and one-hot categories), side by side",
            lambda: plot.column_correlations(real, synth, labels_key),
        ),
        (
            "row_pca",
            "PCA of standardised rows (fit on real, synthetic projected)",
            lambda: plot.row_pca(real, synth, labels_key, seed=seed),
        ),
        *_composition_pictures(real, synth, labels_key, seed, options),
    ]


def _composition_pictures(
    real: pd.DataFrame, synth: pd.DataFrame, labels_key: str | None, seed: int, options: Options
) -> list[Maker]:
    """The pictures of every composition group of the ``composition`` option (none without it)."""
    groups, conditions = _composition_columns(table_from(real, "real", labels_key), options)
    makers: list[Maker] = []
    for name, parts in groups.items():
        several = len(groups) > 1
        title = f"Composition {name}" if several else "Composition"
        stem = f"_{_slug(name)}" if several else ""
        makers += _group_pictures(real, synth, labels_key, seed, parts, conditions, title, stem)
    return makers


def _group_pictures(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    labels_key: str | None,
    seed: int,
    parts: list[Any],
    conditions: list[Any],
    title: str,
    stem: str,
) -> list[Maker]:
    from biogan.plot import compositions as plot

    big = " (the 15 largest; the rest summed as 'other')" if len(parts) > 15 else ""
    per = f", one pair of bars per {labels_key}" if labels_key else ""
    makers: list[Maker] = [
        (
            f"composition_bars{stem}",
            f"{title} ({len(parts)} parts): mean proportion of every part{big}, real bar next to "
            f"synthetic bar{per}; matching stacks mean the model gets the average make-up right",
            lambda: plot.mean_composition_bars(real, synth, parts, labels_key),
        ),
        (
            f"composition_clr_pca{stem}",
            f"{title}: PCA of the centred log-ratios (CLR, the geometry the clr_ metrics use), fit on "
            "real and synthetic rows together; synthetic points should cover the real cloud",
            lambda: plot.clr_pca(real, synth, parts, seed=seed),
        ),
        (
            f"composition_shannon{stem}",
            f"{title}: Shannon diversity of every row (alpha diversity), real against synthetic; a "
            "synthetic curve shifted right spreads the whole too evenly over the parts",
            lambda: plot.shannon_histograms(real, synth, parts),
        ),
    ]
    if conditions:
        makers.append(
            (
                f"composition_conditions{stem}",
                f"{title}: mean proportion of the largest part in deciles of "
                f"{', '.join(map(str, conditions))}, real against synthetic; a flat synthetic curve "
                "where the real one slopes means the model lost the relation",
                lambda: plot.condition_curves(real, synth, parts, conditions),
            )
        )
    return makers


# ---------------------------------------------------------------------------------------- sequences
def _sequence_sets(real: Any, synths: Mapping[str, Any]) -> dict[str, Sequences]:
    ref = sequences_from(real, "real")
    return {"real": ref, **{name: sequences_from(d, name, like=ref) for name, d in synths.items()}}


def _check_sequences(
    real: Any, synths: Mapping[str, Any], labels_key: str | None, options: Options = EMPTY
) -> None:
    _sequence_sets(real, synths)


def _sequence_summary(real: Any, synths: Mapping[str, Any], labels_key: str | None) -> str:
    sets = _sequence_sets(real, synths)
    rows = [
        {
            "set": name,
            "sequences": len(s),
            "alphabet": s.alphabet,
            "shortest": int(s.lengths.min()),
            "median length": float(np.median(s.lengths)),
            "longest": int(s.lengths.max()),
            "distinct": f"{uniqueness(s.sequences):.1%}",
            "labels": "–" if s.labels is None else len(set(s.labels)),
        }
        for name, s in sets.items()
    ]
    labels = {name: s.labels for name, s in sets.items()}
    return table_html(pd.DataFrame(rows)) + _composition(labels, labels_key or "label", "sequence")


def _sequence_pictures(
    real: Any,
    synth: Any,
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any = None,
    options: Options = EMPTY,
) -> list[Maker]:
    from biogan import plot

    against = "the nearest other real sequence" if train is None else "the nearest training sequence"
    return [
        (
            "kmer_shares",
            "Share of every 1-, 2- and 3-mer, synthetic against real (dashed: identity)",
            lambda: plot.kmer_scatter(real, synth),
        ),
        ("lengths", "Sequence lengths", lambda: plot.length_histogram(real, synth)),
        (
            "composition",
            "Letter composition, real next to synthetic",
            lambda: plot.composition_bars(real, synth),
        ),
        (
            "novelty",
            f"Normalised edit distance to {against}, synthetic and held-out real (0 = a copy)",
            lambda: plot.novelty_histogram(real, synth, train, seed=seed),
        ),
        (
            "logo",
            "Letter shares at the first positions (sequence logo), real above synthetic",
            lambda: plot.sequence_logo(real, synth),
        ),
    ]


# ---------------------------------------------------------------------------------------- genotypes
def _genotype_sets(real: Any, synths: Mapping[str, Any]) -> dict[str, Genotypes]:
    ref = genotypes_from(real, "real")
    return {"real": ref, **{name: genotypes_from(d, name, like=ref) for name, d in synths.items()}}


def _check_genotypes(
    real: Any, synths: Mapping[str, Any], labels_key: str | None, options: Options = EMPTY
) -> None:
    _genotype_sets(real, synths)


def _genotype_summary(real: Any, synths: Mapping[str, Any], labels_key: str | None) -> str:
    sets = _genotype_sets(real, synths)
    rows = []
    for name, g in sets.items():
        data = g.data
        maf = np.minimum(g.frequencies, 1 - g.frequencies)
        rows.append(
            {
                "set": name,
                "samples": len(data),
                "haplotypes": len(data) * data.ploidy if data.phased else "– (unphased)",
                "SNPs": data.n_snps,
                "chromosomes": data.variants["chrom"].nunique(),
                "span (Mb)": float(np.ptp(data.variants["pos"].to_numpy())) / 1e6,
                "ploidy": data.ploidy,
                "missing calls": f"{data.missing.mean():.2%}",
                "median MAF": float(np.nanmedian(maf)),
                "monomorphic SNPs": int((maf == 0).sum()),
                "labels": "–" if data.labels is None else len(set(data.labels)),
            }
        )
    labels = {name: g.data.labels for name, g in sets.items()}
    rows_are = (
        "haplotypes (every set is phased)"
        if sets["real"].mode.haplotypes
        else ("samples as ALT dosages (a set is unphased)")
    )
    return (
        table_html(pd.DataFrame(rows))
        + f'<p class="muted">The metrics compare rows that are {_e(rows_are)}.</p>'
        + _composition(labels, labels_key or "label", "sample")
    )


def _genotype_pictures(
    real: Any,
    synth: Any,
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any = None,
    options: Options = EMPTY,
) -> list[Maker]:
    from biogan.plot import genotypes as plot

    nearest = (
        "the nearest training haplotype, for synthetic and for held-out real haplotypes"
        if train is not None
        else "the nearest real haplotype (for a real one: the nearest other real haplotype)"
    )
    decay_control = (
        " and the training data (real against real: the noise to expect)" if train is not None else ""
    )
    return [
        (
            "allele_frequencies",
            "How common the ALT allele of every SNP is in synthetic against real data; points on the "
            "dashed diagonal mean the model reproduces each variant's frequency",
            lambda: plot.allele_frequency_scatter(real, synth),
        ),
        (
            "ld_matrices",
            "Linkage disequilibrium (r², how strongly the alleles of two SNPs travel together) between "
            "common SNPs of one chromosome, real next to synthetic on one colour scale: the red blocks "
            "along the diagonal are haplotype blocks, which a good model reproduces",
            lambda: plot.ld_heatmaps(real, synth),
        ),
        (
            "ld_decay",
            "Average LD against the distance between two SNPs, for the real, the synthetic"
            f"{decay_control}: LD fades with distance as recombination breaks haplotypes apart; a curve "
            "that is too flat or drops too fast means the model gets the haplotype length wrong",
            lambda: plot.ld_decay_curves(real, synth, train),
        ),
        (
            "pca",
            "Principal components of real (circles) and synthetic (crosses) haplotypes, fit on both sets "
            "together and coloured by population when labels are given: synthetic haplotypes should "
            "cover the same clusters in the same proportions",
            lambda: plot.genotype_pca(real, synth, seed=seed),
        ),
        (
            "pairwise_distances",
            "Number of SNPs at which two haplotypes differ, for pairs within the real data, within the "
            "synthetic data and across them: matching curves mean the synthetic data are as diverse and "
            "as related to each other as real ones (a narrow synthetic curve means mode collapse)",
            lambda: plot.pairwise_distance_histograms(real, synth, seed=seed),
        ),
        (
            "nearest_neighbours",
            f"Number of differing SNPs to {nearest}: synthetic haplotypes piled up at 0, left of the "
            "held-out real ones, are copies of training haplotypes (a privacy risk); identical real "
            "haplotypes are common over short regions, so compare the two curves, not the bar at 0 alone",
            lambda: plot.nearest_neighbour_histogram(real, synth, train, seed=seed),
        ),
    ]


# ---------------------------------------------------------------------------------------- structures
def _structure_sets(real: Any, synths: Mapping[str, Any]) -> dict[str, Fragments]:
    ref = fragments_from(real, "real")
    return {"real": ref, **{name: fragments_from(d, name, like=ref) for name, d in synths.items()}}


def _check_structures(
    real: Any, synths: Mapping[str, Any], labels_key: str | None, options: Options = EMPTY
) -> None:
    _structure_sets(real, synths)


def _structure_summary(real: Any, synths: Mapping[str, Any], labels_key: str | None) -> str:
    sets = _structure_sets(real, synths)
    rows = []
    for name, f in sets.items():
        chains = {i.rsplit("@", 1)[0] for i in f.data.ids} if f.data is not None else set()
        rows.append(
            {
                "set": name,
                "fragments": len(f),
                "fragment length": f.length,
                "chains": len(chains),
                "entries (groups)": len(set(f.groups.tolist())),
                "steps at 3.8 ± 0.2 Å": f"{f.bond_ok:.1%}",
                "median Rg (Å)": float(np.median(f.rg)),
                "clashes per fragment": float(f.clashes.mean()),
                "mirrored": f"{f.mirrored:.1%}",
                "labels": "–" if f.labels is None else len(set(f.labels)),
            }
        )
    labels = {name: f.labels for name, f in sets.items()}
    return (
        table_html(pd.DataFrame(rows))
        + '<p class="muted">A fragment is a run of consecutive Cα atoms cut from a chain without gaps; '
        "fragments of one entry overlap and share a group, which the classifier test keeps together. "
        "Real chains have virtually every Cα–Cα step at 3.8 Å and no clashes (Cα atoms two or more "
        "residues apart closer than 3.5 Å).</p>" + _composition(labels, labels_key or "label", "fragment")
    )


def _structure_pictures(
    real: Any,
    synth: Any,
    labels_key: str | None,
    method: str,
    seed: int,
    train: Any = None,
    options: Options = EMPTY,
) -> list[Maker]:
    from biogan.plot import structures as plot

    control = ""
    if train is not None:
        control = " The dashed green curves are the training fragments: how far two real sets differ."
    return [
        (
            "distance_maps",
            "Distance maps: each square shows how far apart (Å) every pair of residues of one fragment is, "
            "dark for near. Real fragments are on top, synthetic ones below. Thick dark bands along the "
            "diagonal are helices, thin dark lines across it are strands pairing into sheets, dark "
            "patches far from the diagonal are contacts between distant parts of the chain; a good "
            "model shows the same kinds of patterns with sharp edges",
            lambda: plot.distance_map_comparison(real, synth),
        ),
        (
            "backbones",
            "The backbones in 3-D: each line joins the Cα atoms of one fragment from the N-terminus "
            "(blue) to the C-terminus (red), real on top, synthetic below. Helices look like coils, "
            "strands like stretched zig-zags; a synthetic trace with kinks, knots or atoms on top of "
            "each other is not protein-like",
            lambda: plot.backbone_comparison(real, synth),
        ),
        (
            "ramachandran",
            "The Cα Ramachandran plot: for every residue, the twist of the chain (virtual torsion of four "
            "consecutive Cα atoms) against its bend (virtual bond angle). Real proteins crowd into two "
            "islands, right-handed α-helices near +50° and β-strands near ±180°; a synthetic plot with "
            "the helix island at -50° shows mirror-image (left-handed) structures, a smeared plot "
            "shows noisy geometry",
            lambda: plot.pseudo_torsion_scatter(real, synth, seed=seed),
        ),
        (
            "separation_distances",
            "Distances between residues k apart along the chain, real against synthetic. Consecutive "
            "Cα atoms (k = 1) must sit 3.8 Å apart, as in every real protein; for k = 3 and 4 the peaks "
            "near 5-6 Å are helices and those near 10-13 Å are stretched strands, so the heights tell "
            f"the share of each.{control}",
            lambda: plot.separation_distance_histograms(real, synth, train, seed=seed),
        ),
        (
            "size_compactness",
            "How spread out each fragment is (radius of gyration, Å) and how compact (share of residue "
            "pairs within 8 Å, i.e. in contact): fragments of folded proteins are compact; a model "
            "that makes fragments too stretched or collapsed shifts these curves",
            lambda: plot.radius_of_gyration_plot(real, synth, train, seed=seed),
        ),
    ]


# ---------------------------------------------------------------------------------------- kinds
@dataclass(frozen=True)
class ReportKind:
    """What the report shows for one data kind; the metric, model and training sections are shared.

    ``noun`` names one record in texts; ``scope_title`` and ``scope_plural`` head the per-scope metric
    rows. ``check(real, synths, labels_key, options)`` validates the inputs before any plotting,
    ``summary`` returns the body of the data summary, ``pictures(real, synth, labels_key, method, seed,
    train, options)`` the pictures of one synthetic set (``train``: the training data or ``None``;
    ``options``: the kind's options of :func:`biogan.evaluate`, defaults filled in).
    """

    noun: str
    scope_title: str
    scope_plural: str
    check: Callable[[Any, Mapping[str, Any], str | None, Options], None]
    summary: Callable[[Any, Mapping[str, Any], str | None], str]
    pictures: Callable[[Any, Any, str | None, str, int, Any, Options], list[Maker]]


REPORT_KINDS: dict[str, ReportKind] = {
    "cells": ReportKind("cell", "Per-label metrics", "labels", _check_cells, _cells_summary, _cells_pictures),
    "table": ReportKind(
        "row",
        "Per-column and per-label metrics",
        "columns and labels",
        _check_table,
        _table_summary,
        _table_pictures,
    ),
    "sequences": ReportKind(
        "sequence", "Per-label metrics", "labels", _check_sequences, _sequence_summary, _sequence_pictures
    ),
    "genotypes": ReportKind(
        "haplotype",
        "Per-population metrics",
        "labels",
        _check_genotypes,
        _genotype_summary,
        _genotype_pictures,
    ),
    "structures": ReportKind(
        "fragment", "Per-label metrics", "labels", _check_structures, _structure_summary, _structure_pictures
    ),
}
"""Data kind (as in :data:`biogan.metrics.engine.METRIC_SETS`) -> its report sections."""


def _figure(make: Callable[[], Any], caption: str, png_dir: Path | None, stem: str) -> str:
    try:
        fig = make()
    except (BioganError, ValueError, np.linalg.LinAlgError) as err:
        # e.g. too few cells per label for a dot plot: one missing picture must not cost the report
        return f'<p class="muted">{_e(caption)}: not drawn ({_e(err)})</p>'
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            png_dir / f"{stem}.png", lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight")
        )
    return f"<figure>{figure_to_img(fig, alt=caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower() or "model"


def _model_section(infos: Mapping[str, ModelInfo]) -> str:
    body = []
    for label, info in infos.items():
        flat = _flatten(info.config)
        facts = pd.DataFrame(
            [
                {"": "model", " ": info.name},
                {"": "training time (s)", " ": info.train_seconds},
                {"": "steps", " ": info.steps if info.steps is not None else "–"},
            ]
        )
        body.append(f"<h3>{_e(label)}</h3>" + table_html(facts))
        if flat:
            params = pd.DataFrame({"hyperparameter": list(flat), "value": [str(v) for v in flat.values()]})
            body.append(
                f"<details><summary>Hyperparameters ({len(flat)})</summary>{table_html(params)}</details>"
            )
    return _section("model", "\n".join(body))


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _training_section(infos: Mapping[str, ModelInfo], png_dir: Path | None) -> str:
    from biogan.plot import training_curves

    body = []
    for label, info in infos.items():
        if len(infos) > 1:
            body.append(f"<h3>{_e(label)}</h3>")
        if info.history.empty:
            body.append('<p class="muted">No training history (not an iteratively trained model).</p>')
            continue
        body.append(
            _figure(
                lambda h=info.history: training_curves(h),
                "Training curves (diversity ratio: spread of generated cells relative to real ones; "
                "below the dashed line means mode collapse)",
                png_dir,
                f"{_slug(label)}_training" if len(infos) > 1 else "training_curves",
            )
        )
        if info.warnings:
            body += [f'<div class="warn">⚠ {_e(w)}</div>' for w in info.warnings]
        else:
            body.append(
                "<p>No training warnings: no mode collapse, divergence, oscillation or stall detected.</p>"
            )
    return _section("training", "\n".join(body))


def _privacy_alert(metrics: pd.DataFrame, noun: str, infos: Mapping[str, MetricInfo]) -> str:
    """The alert for poor verdicts of privacy metrics (:attr:`MetricInfo.privacy`), or ``""``."""
    private = [m for m, info in infos.items() if info.privacy]
    rows = metrics[metrics["metric"].isin(private) & (metrics["verdict"] == "poor")]
    if rows.empty:
        return ""
    who = ", ".join(dict.fromkeys(map(str, rows["model"]))) if "model" in rows else f"the synthetic {noun}s"
    values = ", ".join(f"{m} {v:.2f}" for m, v in zip(rows["metric"], rows["value"], strict=True))
    return (
        f'<p class="alert">PRIVACY ALERT: {_e(who)} sit much closer to training {noun}s than held-out real '
        f"{noun}s do ({_e(values)}). The model is likely copying training {noun}s; do not "
        "share these data as anonymised.</p>"
    )


# ---------------------------------------------------------------------------------------- public API
def write_report(
    path: str | os.PathLike,
    real: Any,
    synth: Any,
    labels_key: str | None = None,
    model: Any = None,
    metrics: pd.DataFrame | None = None,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    title: str | None = None,
    train: Any = None,
    embedding_method: str = "umap",
    png_dir: str | os.PathLike | None = None,
    seed: int = 0,
    kind: str | None = None,
    **options: Any,
) -> Path:
    """Write one self-contained HTML report comparing synthetic with real data.

    Parameters
    ----------
    path
        The ``.html`` file to write (atomically; parent folders are created).
    real
        Real (ideally held-out) data: cells with raw counts (AnnData), a table (DataFrame), sequences
        (:class:`biogan.data.sequences.SequenceSet`) or genotypes
        (:class:`biogan.data.genotypes.GenotypeSet`).
    synth
        Synthetic data of the same kind, or ``{name: data}`` to put several models in one report.
    labels_key
        Column with labels (``obs`` column for cells): per-label metrics, marker dot plot, colours.
        Sequences and genotypes carry their labels; ``labels_key`` only names them in the summary.
    model
        A fitted model, a saved model folder, or ``{name: model}``; adds hyperparameters, training time,
        training curves and diagnostics warnings.
    metrics
        A table from :func:`biogan.evaluate` (or ``evaluate_many``, with a ``model``
        column); computed here when ``None``.
    extra_tables
        ``{title: DataFrame}`` shown at the end (e.g. wall times of a comparison).
    title
        Page title (default: ``biogan report: real vs synthetic cells`` / ``rows``).
    train
        Training data, passed to :func:`evaluate` when the metrics are computed here (and to the
        sequence novelty and genotype nearest-neighbour and LD-decay pictures).
    embedding_method
        ``"umap"`` or ``"pca"`` (cells only).
    png_dir
        Also save every picture as a PNG file in this folder.
    seed
        Seeds the metrics and the embedding.
    kind
        The data kind (a key of :data:`REPORT_KINDS`); ``None`` infers it from ``real``.
    **options
        Options of the kind, as for :func:`biogan.evaluate`: passed to it when the metrics are computed
        here, and to the pictures (tables: ``composition`` and ``conditions`` add the composition
        pictures).

    Returns
    -------
    Path
        ``path``.
    """
    kind = kind_of(real) if kind is None else kind
    if kind not in REPORT_KINDS:
        raise InvalidDataError(f"no report for data kind {kind!r}: use one of {', '.join(REPORT_KINDS)}")
    report_kind = REPORT_KINDS[kind]
    synths = dict(synth) if isinstance(synth, Mapping) else {"synthetic": synth}
    if not synths:
        raise InvalidDataError("write_report needs at least one synthetic data set")
    resolved = resolve_options(METRIC_SETS[kind], options) if kind in METRIC_SETS else dict(options)
    report_kind.check(real, synths, labels_key, resolved)  # fail early, before minutes of plotting
    if metrics is None:
        tables = {
            name: evaluate(real, data, labels_key=labels_key, train=train, seed=seed, kind=kind, **options)
            for name, data in synths.items()
        }
        metrics = (
            next(iter(tables.values()))
            if len(tables) == 1
            else pd.concat([t.assign(model=n) for n, t in tables.items()], ignore_index=True)
        )
    models = model if isinstance(model, Mapping) else ({} if model is None else {"model": model})
    infos = {name: model_info(m) for name, m in models.items()}
    png = Path(png_dir) if png_dir is not None else None
    title = title or f"biogan report: real vs synthetic {report_kind.noun}s"
    metric_infos = METRIC_SETS[kind].metrics if kind in METRIC_SETS else {}
    parts = [
        _privacy_alert(metrics, report_kind.noun, metric_infos),
        _section("summary", report_kind.summary(real, synths, labels_key)),
        _metrics(metrics, report_kind, metric_infos),
        _pictures(report_kind, real, synths, labels_key, embedding_method, seed, train, png, resolved),
    ]
    if infos:
        parts += [_model_section(infos), _training_section(infos, png)]
    if extra_tables:
        parts.append(
            _section("tables", "".join(f"<h3>{_e(k)}</h3>{table_html(v)}" for k, v in extra_tables.items()))
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " · ".join(
        f'<a href="#{key}">{_e(SECTIONS[key])}</a>' for key in SECTIONS if f'id="{key}"' in "".join(parts)
    )
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="muted">biogan {_e(biogan.__version__)} · {stamp}</p>'
        f"<nav>{nav}</nav>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n"
    )
    return atomic_write(path, lambda p: p.write_text(document, encoding="utf-8"), suffix=".html")


__all__ = [
    "REPORT_KINDS",
    "ModelInfo",
    "ReportKind",
    "figure_to_img",
    "model_info",
    "table_html",
    "write_report",
]
