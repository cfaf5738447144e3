"""The ``biogan`` command line: train, sample, demo (and the other jobs as they land)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from biogan.errors import BioganError

app = typer.Typer(help="Generative adversarial networks for biological data.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your data.", no_args_is_help=True)
app.add_typer(train_app, name="train")

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Print a :class:`BioganError` (or a bad option value) as one line and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BioganError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def parse_label_counts(text: str | None) -> dict[str, int] | None:
    """``"B cell=500,T cell=500"`` -> ``{"B cell": 500, "T cell": 500}``."""
    if not text:
        return None
    out: dict[str, int] = {}
    for item in text.split(","):
        label, sep, count = item.rpartition("=")
        if not sep or not label.strip() or not count.strip().isdigit():
            raise ValueError(f"cannot read {item!r}: write labels as 'name=count,name=count'")
        out[label.strip()] = int(count)
    return out


def _pick_layer(adata: Any, layer: str | None) -> str | None:
    """The layer the user named, else ``counts`` when present, else ``.X``."""
    if layer is not None:
        return layer
    return "counts" if "counts" in adata.layers else None


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
    ExpressionGAN.setup_anndata(adata, layer=_pick_layer(adata, layer), labels_key=labels_key)
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


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    sys.exit(app())
