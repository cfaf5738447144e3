"""``biogan evaluate``, ``biogan report`` and ``biogan compare``: metrics and one HTML report.

Plain functions with typer annotations; :mod:`biogan.cli` registers them as commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import anndata as ad
import pandas as pd
import typer

from biogan._cli_utils import friendly_errors, pick_layer
from biogan.errors import CheckpointError, GeneMismatchError, InvalidDataError, UnknownLabelError

MODEL_CHOICES = ("gan", "vae", "nb", "gaussian", "copula")
REPORT_FILE, METRICS_FILE = "report.html", "metrics.csv"


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


def load_count_model(model_dir: Path, device: str = "auto") -> Any:
    """Load a saved ExpressionGAN or ExpressionVAE (reports compare cells, so tables are refused)."""
    from biogan.models import load_model
    from biogan.models._base import CountModel

    model = load_model(model_dir, device)
    if not isinstance(model, CountModel):
        raise CheckpointError(
            f"{model_dir} holds a {type(model).__name__}; 'biogan report' reads ExpressionGAN and "
            "ExpressionVAE models"
        )
    return model


def _composition(adata: ad.AnnData, labels_key: str | None) -> dict[str, int] | None:
    if labels_key is None:
        return None
    if labels_key not in adata.obs:
        raise UnknownLabelError(f"the real cells have no obs column {labels_key!r}")
    return {str(k): int(v) for k, v in adata.obs[labels_key].astype(str).value_counts().items()}


# ---------------------------------------------------------------------------------------- commands
@friendly_errors
def evaluate_command(
    real: Annotated[Path, typer.Argument(help="Real cells (.h5ad, 10x, csv), ideally not used for training")],
    synth: Annotated[Path, typer.Argument(help="Synthetic cells with the same genes")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, metrics.csv and PNGs")],
    labels_key: Annotated[str | None, typer.Option(help="obs column with cell types")] = None,
    train: Annotated[
        Path | None, typer.Option(help="The model's training cells: control and privacy check use them")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")] = None,
    embedding: Annotated[str, typer.Option(help="umap or pca")] = "umap",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Compare synthetic with real cells: metric table with controls and an HTML report."""
    from biogan.metrics.suite import evaluate

    real_cells, synth_cells = read_counts(real, layer), read_counts(synth, layer)
    train_cells = read_counts(train, layer) if train is not None else None
    metrics = evaluate(real_cells, synth_cells, labels_key=labels_key, train=train_cells, seed=seed)
    path = _write_outputs(
        out,
        metrics,
        real=real_cells,
        synth=synth_cells,
        labels_key=labels_key,
        title=f"biogan evaluate: {synth.name} vs {real.name}",
        embedding_method=embedding,
        seed=seed,
    )
    _echo_table(metrics)
    typer.echo(f"report: {path}")


@friendly_errors
def report_command(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by 'biogan train' (GAN or VAE)")],
    real: Annotated[Path, typer.Option(help="Real cells to compare with (ideally held out from training)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, metrics.csv and PNGs")],
    n: Annotated[
        int | None, typer.Option("-n", help="Cells to generate (default: as many as --real)")
    ] = None,
    train: Annotated[Path | None, typer.Option(help="The training cells (control and privacy check)")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")] = None,
    embedding: Annotated[str, typer.Option(help="umap or pca")] = "umap",
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Sample a trained model like the real cells and report metrics, pictures and training curves."""
    from biogan.metrics.suite import evaluate

    model = load_count_model(model_dir, device)
    real_cells = _model_genes(read_counts(real, layer), model.genes, "--real")
    train_cells = _model_genes(read_counts(train, layer), model.genes, "--train") if train else None
    labels_key = model.labels_key if model.labels_key in real_cells.obs else None
    if n is None and labels_key is not None:
        synth = model.sample(labels=_composition(real_cells, labels_key), seed=seed)
    else:
        synth = model.sample(n=n or real_cells.n_obs, seed=seed)
    metrics = evaluate(real_cells, synth, labels_key=labels_key, train=train_cells, seed=seed)
    path = _write_outputs(
        out,
        metrics,
        real=real_cells,
        synth=synth,
        labels_key=labels_key,
        model=model_dir,
        title=f"biogan report: {type(model).__name__} in {model_dir.name}",
        embedding_method=embedding,
        seed=seed,
    )
    _echo_table(metrics)
    typer.echo(f"report: {path}")


def _model_genes(adata: ad.AnnData, genes: list[str], option: str) -> ad.AnnData:
    missing = [g for g in genes if g not in set(adata.var_names)]
    if missing:
        raise GeneMismatchError(
            f"{option} lacks {len(missing)} of the model's {len(genes)} genes (e.g. {missing[:3]})"
        )
    return adata[:, genes].copy()


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
) -> None:
    """Train several models on the same training split and judge them on the held-out cells."""
    from biogan.data import stratified_split
    from biogan.metrics.suite import evaluate_many
    from biogan.models import ExpressionGAN

    names = [m.strip().lower() for m in models.split(",") if m.strip()]
    unknown = sorted(set(names) - set(MODEL_CHOICES))
    if unknown or not names:
        raise InvalidDataError(f"unknown model(s) {unknown}: choose from {', '.join(MODEL_CHOICES)}")
    if not 0 < test_size < 1:
        raise InvalidDataError(f"--test-size must be between 0 and 1, not {test_size}")
    adata = read_counts(cells, layer)
    if labels_key is not None and labels_key not in adata.obs:
        raise UnknownLabelError(f"{cells} has no obs column {labels_key!r}")
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


__all__ = ["compare_command", "evaluate_command", "load_count_model", "report_command"]
