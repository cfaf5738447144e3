"""The ``biogan`` command line: train, sample, demo (and the other jobs as they land)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from biogan._cli_utils import friendly_errors, parse_label_counts, pick_layer
from biogan.impute.cli import impute
from biogan.report.cli import compare_command, evaluate_command, report_command

app = typer.Typer(help="Generative adversarial networks for biological data.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your data.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("expression")
@friendly_errors
def train_expression(
    input: Annotated[
        Path, typer.Argument(help=".h5ad, 10x .h5, 10x mtx folder, .csv or .tsv (cells x genes)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the trained model")],
    labels_key: Annotated[str | None, typer.Option(help="obs column to condition on")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")] = None,
    max_steps: Annotated[int, typer.Option(help="Generator steps")] = 2000,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt")] = False,
) -> None:
    """Train an ExpressionGAN on a count matrix and save it to OUT."""
    from biogan.data import read_cells
    from biogan.models import ExpressionGAN

    adata = read_cells(input)
    ExpressionGAN.setup_anndata(adata, layer=pick_layer(adata, layer), labels_key=labels_key)
    model = ExpressionGAN(adata, seed=seed, device=device)
    max_seconds = max_minutes * 60 if max_minutes else None
    model.fit(max_steps=max_steps, max_seconds=max_seconds, resume=resume, checkpoint_dir=out)
    model.save(out)
    typer.echo(f"trained {model.trainer.step} steps in {model.train_seconds:.0f} s; model saved to {out}")


@train_app.command("table")
@friendly_errors
def train_table(
    input: Annotated[Path, typer.Argument(help=".csv or .tsv table (one row per sample, no missing values)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the trained model")],
    labels_key: Annotated[str | None, typer.Option(help="Column to condition on")] = None,
    categorical: Annotated[str | None, typer.Option(help="Comma-separated extra categorical columns")] = None,
    index: Annotated[bool, typer.Option(help="The first column holds row names")] = True,
    max_steps: Annotated[int, typer.Option(help="Generator steps")] = 3000,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt")] = False,
) -> None:
    """Train a TabularGAN on a table and save it to OUT."""
    from biogan.data import read_table
    from biogan.models import TabularGAN

    model = TabularGAN(seed=seed, device=device)
    model.fit(
        read_table(input, index),
        labels_key,
        _split_names(categorical),
        max_steps=max_steps,
        max_seconds=max_minutes * 60 if max_minutes else None,
        resume=resume,
        checkpoint_dir=out,
    )
    model.save(out)
    typer.echo(f"trained {model.trainer.step} steps in {model.train_seconds:.0f} s; model saved to {out}")


@app.command("sample")
@friendly_errors
def sample(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by 'biogan train'")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .h5ad (cells) or .csv/.tsv (table)")],
    n: Annotated[int | None, typer.Option("-n", help="Samples, in the training proportions")] = None,
    labels: Annotated[str | None, typer.Option(help="Counts per label: 'B cell=500,T cell=500'")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Generate cells (integer counts, .h5ad) or table rows (.csv/.tsv) from a trained model."""
    from biogan.data import write_h5ad, write_table
    from biogan.models import TabularGAN, load_model

    if n is None and not labels:
        raise ValueError("give -n (number of samples) or --labels 'name=count,...'")
    model = load_model(model_dir, device=device)
    synth = model.sample(n=n, labels=parse_label_counts(labels), seed=seed)
    if isinstance(model, TabularGAN):
        write_table(synth, output, index=False)
        typer.echo(f"wrote {len(synth)} rows x {synth.shape[1]} columns to {output}")
        return
    write_h5ad(synth, output)
    typer.echo(f"wrote {synth.n_obs} cells x {synth.n_vars} genes to {output}")


@app.command("augment")
@friendly_errors
def augment_command(
    input: Annotated[
        Path,
        typer.Argument(help="Cells with raw counts (.h5ad, 10x, .csv/.tsv) or a table with a label column"),
    ],
    labels_key: Annotated[str, typer.Option(help="obs column (cells) or column (table) with the labels")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad (cells) or .csv/.tsv (table)")],
    target: Annotated[
        str, typer.Option(help="'balanced', 'x2' or 'label=count,...' (final sizes)")
    ] = "balanced",
    model_dir: Annotated[
        Path | None, typer.Option(help="A trained model for this data (default: train one)")
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Cells: layer with raw counts (default 'counts' or X)")
    ] = None,
    index: Annotated[bool, typer.Option(help="Table: the first column holds row names")] = True,
    min_confidence: Annotated[
        float | None, typer.Option(help="Keep only samples a classifier assigns to their label this surely")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Generator steps when training a model (cells 400, tables 3000)")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Append synthetic samples (flagged as 'biogan_synthetic') until labels reach TARGET.

    A .csv/.tsv whose header has the --labels-key column is a table (grown with a TabularGAN);
    anything else is read as cells x genes counts (grown with an ExpressionGAN).
    """
    from biogan.augmentation import SYNTHETIC_KEY, augment
    from biogan.data import read_cells, read_table, write_h5ad, write_table
    from biogan.models import load_model

    model = load_model(model_dir, device=device) if model_dir else None
    options = {"max_steps": max_steps} if max_steps is not None else {}
    common = {"model": model, "seed": seed, "min_confidence": min_confidence, "device": device, **options}
    if _is_table_with(input, labels_key, index):
        table = read_table(input, index)
        result = augment(table, labels_key, target, **common)
        write_table(result, out, index)
        added, kept, what = int(result[SYNTHETIC_KEY].sum()), len(table), "rows"
    else:
        adata = read_cells(input)
        result = augment(adata, labels_key, target, layer=pick_layer(adata, layer), **common)
        write_h5ad(result, out)
        added, kept, what = int(result.obs[SYNTHETIC_KEY].sum()), adata.n_obs, "cells"
    typer.echo(f"kept {kept} real {what}, added {added} synthetic {what}; wrote {out}")


def _is_table_with(path: Path, column: str, index: bool) -> bool:
    """A .csv/.tsv whose header names ``column`` is a table, not a cells x genes matrix."""
    import pandas as pd

    from biogan.data.readers import TABLE_SEPARATORS

    if path.suffix.lower() not in TABLE_SEPARATORS or not path.is_file():
        return False
    sep = TABLE_SEPARATORS[path.suffix.lower()]
    return column in pd.read_csv(path, sep=sep, nrows=0, index_col=0 if index else None).columns


def _split_names(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",")] if text else []


@app.command("demo")
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")] = Path("biogan_demo"),
    max_steps: Annotated[int, typer.Option(help="Generator steps")] = 400,
    max_minutes: Annotated[float, typer.Option(help="Wall-clock cap on training")] = 3.0,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Train on the bundled PBMC data (train half), sample the held-out half, print metrics."""
    from biogan.demo import run_demo

    run_demo(out, max_steps=max_steps, max_seconds=max_minutes * 60, seed=seed, device=device)


app.command("impute")(friendly_errors(impute))
app.command("evaluate")(evaluate_command)
app.command("report")(report_command)
app.command("compare")(compare_command)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    sys.exit(app())
