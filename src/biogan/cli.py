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


@app.command("sample")
@friendly_errors
def sample(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by 'biogan train'")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .h5ad")],
    n: Annotated[int | None, typer.Option("-n", help="Cells, in the training proportions")] = None,
    labels: Annotated[str | None, typer.Option(help="Counts per label: 'B cell=500,T cell=500'")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Generate cells from a trained model and write them as .h5ad (integer counts)."""
    from biogan.data import write_h5ad
    from biogan.models import ExpressionGAN

    if n is None and not labels:
        raise ValueError("give -n (number of cells) or --labels 'name=count,...'")
    model = ExpressionGAN.load(model_dir, device=device)
    synth = model.sample(n=n, labels=parse_label_counts(labels), seed=seed)
    write_h5ad(synth, output)
    typer.echo(f"wrote {synth.n_obs} cells x {synth.n_vars} genes to {output}")


@app.command("augment")
@friendly_errors
def augment_cells(
    input: Annotated[Path, typer.Argument(help="Cells with raw counts (.h5ad, 10x, .csv/.tsv)")],
    labels_key: Annotated[str, typer.Option(help="obs column with the labels to grow")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .h5ad")],
    target: Annotated[
        str, typer.Option(help="'balanced', 'x2' or 'label=count,...' (final sizes)")
    ] = "balanced",
    model_dir: Annotated[
        Path | None, typer.Option(help="A trained ExpressionGAN (default: train one)")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")] = None,
    min_confidence: Annotated[
        float | None, typer.Option(help="Keep only cells a classifier assigns to their label this surely")
    ] = None,
    max_steps: Annotated[int, typer.Option(help="Generator steps when training a model")] = 400,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Append synthetic cells (flagged in obs['biogan_synthetic']) until labels reach TARGET."""
    from biogan.augment import SYNTHETIC_KEY, augment
    from biogan.data import read_cells, write_h5ad
    from biogan.models import ExpressionGAN

    adata = read_cells(input)
    model = ExpressionGAN.load(model_dir, device=device) if model_dir else None
    result = augment(
        adata,
        labels_key,
        target,
        model=model,
        layer=pick_layer(adata, layer),
        seed=seed,
        max_steps=max_steps,
        min_confidence=min_confidence,
        device=device,
    )
    write_h5ad(result, out)
    added = int(result.obs[SYNTHETIC_KEY].sum())
    typer.echo(f"kept {adata.n_obs} real cells, added {added} synthetic cells; wrote {out}")


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
