"""The ``biogan`` command line: train, sample, demo (and the other jobs as they land)."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from biogan._cli_utils import (
    check_training_length,
    friendly_errors,
    parse_composition,
    parse_label_counts,
    pick_layer,
    split_names,
)
from biogan.errors import InvalidDataError
from biogan.impute.cli import impute
from biogan.report.cli import compare_command, evaluate_command, report_command

app = typer.Typer(help="Generative adversarial networks for biological data.", no_args_is_help=True)
train_app = typer.Typer(help="Train a model on your data.", no_args_is_help=True)
app.add_typer(train_app, name="train")

# Options every ``biogan train <type>`` command shares.
Out = Annotated[Path, typer.Option("--out", "-o", help="Folder for the trained model")]
MaxSteps = Annotated[int | None, typer.Option(help="Training steps (default: the model's)")]
MaxMinutes = Annotated[float | None, typer.Option(help="Wall-clock budget")]
Seed = Annotated[int, typer.Option()]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda (torchrun: one GPU per process)")]
Resume = Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt")]
Overwrite = Annotated[bool, typer.Option(help="Replace an existing output")]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="JSON settings (e.g. a saved model's config.json)")
]
Settings = Annotated[
    list[str] | None,
    typer.Option("--set", help="A setting as key=value, dotted for nested ones (train.batch_size=256)"),
]


@dataclass
class TrainRun:
    """What every ``biogan train`` command is asked, whatever the data kind."""

    input: Path
    out: Path
    max_steps: int | None
    max_minutes: float | None
    seed: int
    device: str
    resume: bool
    overwrite: bool
    config: Path | None
    settings: list[str] | None

    def check(self, model_name: str) -> Any:
        """Every option, the output folder and the settings, before any data is read; the settings."""
        from biogan._utils import check_output, resolve_device
        from biogan.models import model_class
        from biogan.models._config import settings_from_cli

        check_training_length(self.max_steps, self.max_minutes)
        resolve_device(self.device)
        check_output(self.out, [self.input], overwrite=self.overwrite or self.resume, folder=True)
        return settings_from_cli(model_class(model_name).config_class, self.config, self.settings or [])

    def fit_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"resume": self.resume, "checkpoint_dir": self.out}
        if self.max_steps is not None:
            options["max_steps"] = self.max_steps
        if self.max_minutes:
            options["max_seconds"] = self.max_minutes * 60
        return options


def _train(run: TrainRun, hyper: Any, build: Callable[[Any], tuple[Any, Callable[..., Any]]]) -> None:
    """The model from ``build(settings)``, training, one saved folder; under ``torchrun`` every rank
    trains and rank 0 saves."""
    from biogan._utils import resolve_device
    from biogan.train import distributed

    with distributed.session(distributed.rank_device(resolve_device(run.device))) as ctx:
        model, fit = build(hyper)
        fit(**run.fit_options())
        if ctx.is_main:
            model.save(run.out)
            where = f" on {ctx.world_size} processes" if ctx.enabled else ""
            best = model.trainer.best
            kept = f"; kept step {best['step']} (best validation score)" if best else ""
            typer.echo(
                f"trained {model.trainer.step} steps{where} in {model.train_seconds:.0f} s{kept}; "
                f"model saved to {run.out}"
            )


def _cells_command(model_name: str) -> Callable[..., None]:
    """``biogan train <model_name>`` for a model of cells x genes counts."""

    def command(
        input: Annotated[
            Path,
            typer.Argument(help=".h5ad, .zarr, 10x .h5, 10x mtx folder, .csv or .tsv (cells x genes)"),
        ],
        out: Out,
        labels_key: Annotated[str | None, typer.Option(help="obs column to condition on")] = None,
        layer: Annotated[
            str | None, typer.Option(help="Layer with raw counts (default: 'counts' or X)")
        ] = None,
        max_steps: MaxSteps = None,
        max_minutes: MaxMinutes = None,
        seed: Seed = 0,
        device: Device = "auto",
        resume: Resume = False,
        overwrite: Overwrite = False,
        config: ConfigFile = None,
        set_: Settings = None,
        allow_large_counts: Annotated[
            bool, typer.Option(help="Accept counts above 2^31 - 1 (refused by default)")
        ] = False,
        backed: Annotated[
            bool,
            typer.Option(help="Keep the counts of a .h5ad / .zarr on disk; read them in row blocks"),
        ] = False,
        n_top_genes: Annotated[
            int | None, typer.Option(help="Train on the N most variable genes (Seurat's dispersion rule)")
        ] = None,
    ) -> None:
        from biogan.data import read_cells
        from biogan.data.anndata import keep_variable_genes
        from biogan.models import model_class

        run = TrainRun(input, out, max_steps, max_minutes, seed, device, resume, overwrite, config, set_)
        hyper = run.check(model_name)
        cls = model_class(model_name)
        adata = read_cells(input, backed=backed)
        if n_top_genes is not None:
            if n_top_genes < 1:
                raise InvalidDataError(f"--n-top-genes must be at least 1, not {n_top_genes}")
            adata = keep_variable_genes(adata, n_top_genes, pick_layer(adata, layer))
        cls.setup_anndata(
            adata,
            layer=pick_layer(adata, layer),
            labels_key=labels_key,
            allow_large_counts=allow_large_counts,
        )

        def build(hyper: Any) -> tuple[Any, Callable[..., Any]]:
            model = cls(adata, config=hyper, seed=seed, device=device)
            return model, model.fit

        _train(run, hyper, build)

    return command


def _table_command(model_name: str) -> Callable[..., None]:
    """``biogan train <model_name>`` for a model of tables."""

    def command(
        input: Annotated[
            Path, typer.Argument(help=".csv or .tsv table (one row per sample, no missing values)")
        ],
        out: Out,
        labels_key: Annotated[str | None, typer.Option(help="Column to condition on")] = None,
        categorical: Annotated[
            str | None, typer.Option(help="Comma-separated extra categorical columns")
        ] = None,
        composition: Annotated[
            str | None,
            typer.Option(
                help="Columns that are parts of a whole (comma-separated; several groups separated by ';'), "
                "or 'all-numeric'. Default: detected when every numeric column sums to one constant"
            ),
        ] = None,
        conditions: Annotated[
            str | None, typer.Option(help="Comma-separated covariate columns to generate rows for (age,sex)")
        ] = None,
        renormalise: Annotated[
            bool, typer.Option(help="Close composition rows that do not sum to the group's total")
        ] = False,
        index: Annotated[bool, typer.Option(help="The first column holds row names")] = True,
        max_steps: MaxSteps = None,
        max_minutes: MaxMinutes = None,
        seed: Seed = 0,
        device: Device = "auto",
        resume: Resume = False,
        overwrite: Overwrite = False,
        config: ConfigFile = None,
        set_: Settings = None,
    ) -> None:
        from biogan.data import read_table
        from biogan.models import model_class

        run = TrainRun(input, out, max_steps, max_minutes, seed, device, resume, overwrite, config, set_)
        hyper = run.check(model_name)
        cls, table = model_class(model_name), read_table(input, index)

        def build(hyper: Any) -> tuple[Any, Callable[..., Any]]:
            model = cls(config=hyper, seed=seed, device=device)
            return model, functools.partial(
                model.fit,
                table,
                labels_key,
                split_names(categorical),
                composition=parse_composition(composition),
                conditions=split_names(conditions),
                renormalise=renormalise,
            )

        _train(run, hyper, build)

    return command


def _sequence_command(model_name: str) -> Callable[..., None]:
    """``biogan train <model_name>`` for a model of sequences (FASTA)."""

    def command(
        input: Annotated[Path, typer.Argument(help="FASTA file (.fasta/.fa/.faa/.fna, optionally .gz)")],
        out: Out,
        alphabet: Annotated[
            str | None, typer.Option(help="dna, rna or protein (default: inferred from the letters)")
        ] = None,
        max_length: Annotated[
            int | None, typer.Option(help="Longest sequence (default: the longest in INPUT)")
        ] = None,
        truncate: Annotated[bool, typer.Option(help="Cut sequences longer than --max-length")] = False,
        drop_invalid: Annotated[
            bool, typer.Option(help="Leave out records with letters outside the alphabet")
        ] = False,
        label_regex: Annotated[
            str | None,
            typer.Option(help="Regular expression whose (first) group in each header is the label"),
        ] = None,
        max_steps: MaxSteps = None,
        max_minutes: MaxMinutes = None,
        seed: Seed = 0,
        device: Device = "auto",
        resume: Resume = False,
        overwrite: Overwrite = False,
        config: ConfigFile = None,
        set_: Settings = None,
    ) -> None:
        from biogan.data.sequences import read_fasta
        from biogan.models import model_class

        run = TrainRun(input, out, max_steps, max_minutes, seed, device, resume, overwrite, config, set_)
        hyper = run.check(model_name)
        cls = model_class(model_name)
        data = read_fasta(input, alphabet, label_regex, drop_invalid, max_length, truncate)

        def build(hyper: Any) -> tuple[Any, Callable[..., Any]]:
            model = cls(alphabet=data.alphabet, config=hyper, seed=seed, device=device)
            model.label_regex = label_regex
            return model, functools.partial(model.fit, data, max_length)

        _train(run, hyper, build)

    return command


def _genotype_command(model_name: str) -> Callable[..., None]:
    """``biogan train <model_name>`` for a model of genotypes (VCF/BCF or .hapt)."""

    def command(
        input: Annotated[Path, typer.Argument(help="Phased VCF/BCF (.vcf, .vcf.gz, .bcf) or .hapt matrix")],
        out: Out,
        samples_file: Annotated[
            Path | None, typer.Option(help="Sample panel with a header (1000 Genomes: sample pop super_pop)")
        ] = None,
        labels_key: Annotated[
            str | None, typer.Option(help="Column of --samples-file that labels each sample")
        ] = None,
        region: Annotated[
            str | None, typer.Option(help="Read only chr:start-end (an indexed VCF/BCF)")
        ] = None,
        max_steps: MaxSteps = None,
        max_minutes: MaxMinutes = None,
        seed: Seed = 0,
        device: Device = "auto",
        resume: Resume = False,
        overwrite: Overwrite = False,
        config: ConfigFile = None,
        set_: Settings = None,
    ) -> None:
        from biogan.data.genotypes import read_genotypes
        from biogan.models import model_class

        run = TrainRun(input, out, max_steps, max_minutes, seed, device, resume, overwrite, config, set_)
        hyper = run.check(model_name)
        cls = model_class(model_name)
        data = read_genotypes(input, region=region, samples_file=samples_file, labels_key=labels_key)

        def build(hyper: Any) -> tuple[Any, Callable[..., Any]]:
            model = cls(config=hyper, seed=seed, device=device)
            model.samples_file = str(samples_file.resolve()) if samples_file else None
            model.labels_key = labels_key
            return model, functools.partial(model.fit, data)

        _train(run, hyper, build)

    return command


def _structure_command(model_name: str) -> Callable[..., None]:
    """``biogan train <model_name>`` for a model of protein structures (PDB/mmCIF files)."""

    def command(
        input: Annotated[
            Path,
            typer.Argument(help="Folder of .pdb/.cif files (optionally .gz), one such file, or a Cα .npz"),
        ],
        out: Out,
        fragment_length: Annotated[
            int | None, typer.Option(help="Residues per fragment (default: the model's, 64)")
        ] = None,
        stride: Annotated[
            int | None, typer.Option(help="Residues between fragment starts (default: length // 16)")
        ] = None,
        models: Annotated[
            str, typer.Option(help="NMR ensembles: 'first' model of each file or 'all' of them")
        ] = "first",
        max_steps: MaxSteps = None,
        max_minutes: MaxMinutes = None,
        seed: Seed = 0,
        device: Device = "auto",
        resume: Resume = False,
        overwrite: Overwrite = False,
        config: ConfigFile = None,
        set_: Settings = None,
    ) -> None:
        from biogan.data.structures import read_structures, warn_skipped
        from biogan.models import model_class

        run = TrainRun(input, out, max_steps, max_minutes, seed, device, resume, overwrite, config, set_)
        chosen = {"fragment_length": fragment_length, "stride": stride}
        # dataclasses.replace re-runs the config's checks on the options, as on --set values
        hyper = dataclasses.replace(
            run.check(model_name), **{k: v for k, v in chosen.items() if v is not None}
        )
        cls = model_class(model_name)
        data = read_structures(input, models=models, warn=False)
        data.fragments(
            hyper.fragment_length, hyper.stride, warn=False
        )  # refused in one line, before any note
        warn_skipped(data, input)

        def build(hyper: Any) -> tuple[Any, Callable[..., Any]]:
            model = cls(config=hyper, seed=seed, device=device)
            return model, functools.partial(model.fit, data)

        _train(run, hyper, build)

    return command


COMMAND_MAKERS = {
    "cells": _cells_command,
    "table": _table_command,
    "sequences": _sequence_command,
    "genotypes": _genotype_command,
    "structures": _structure_command,
}
"""How a ``biogan train`` command reads each data kind; one command per registered model."""


def _register_train_commands() -> None:
    from biogan.models import MODELS

    for name, cls in MODELS.items():
        command = COMMAND_MAKERS[cls.data_kind](name)
        command.__doc__ = (
            f"{cls.__name__} ({cls.data_kind}): train on INPUT and save to OUT. Hyperparameters: "
            f"--config FILE.json and --set key=value (see biogan.{cls.config_class.__name__})."
        )
        train_app.command(name)(friendly_errors(command))


_register_train_commands()


@app.command("sample")
@friendly_errors
def sample(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by 'biogan train'")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output .h5ad (cells), .csv/.tsv (table), .fasta (sequences), .vcf.gz (genotypes) or a "
            "folder (structures: one Cα PDB per fragment, distance maps and pictures)",
        ),
    ],
    n: Annotated[int | None, typer.Option("-n", help="Samples, in the training proportions")] = None,
    labels: Annotated[str | None, typer.Option(help="Counts per label: 'B cell=500,T cell=500'")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
    allow_copies: Annotated[
        bool, typer.Option(help="Write the samples even when they fail the model's privacy gate")
    ] = False,
    conditions_file: Annotated[
        Path | None,
        typer.Option(
            help="Table (.csv/.tsv) of covariates, one row per sample to generate (models trained with "
            "--conditions); replaces -n"
        ),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Generate samples from a trained model, written in the format of its data kind (cells are streamed
    into the .h5ad chunk by chunk, so -n 1000000 needs the memory of one chunk).

    Models with a privacy gate (GenotypeGAN) refuse to write samples that copy their training data
    more than held-out real data do, unless --allow-copies."""
    from biogan._utils import check_output, resolve_device
    from biogan.data.kinds import KINDS
    from biogan.models import load_model

    requested = parse_label_counts(labels)
    if n is None and not requested and conditions_file is None:
        raise InvalidDataError("give -n (number of samples), --labels 'name=count,...' or --conditions-file")
    if (n is not None and n < 1) or (requested is not None and sum(requested.values()) < 1):
        raise InvalidDataError("ask for at least one sample (-n 1 or more, or --labels with a count above 0)")
    resolve_device(device)
    check_output(output, [model_dir], overwrite)
    model = load_model(model_dir, device=device)
    KINDS[model.data_kind].check_suffix(output)
    options = _condition_options(model, conditions_file)
    written, problem = model.write_samples(
        output, n=n, labels=requested, seed=seed, allow_copies=allow_copies, **options
    )
    if problem:
        typer.echo(f"warning: {problem}", err=True)
    typer.echo(f"wrote {written} to {output}")


def _condition_options(model: Any, conditions_file: Path | None) -> dict[str, Any]:
    """``{"conditions": table}`` for a model that samples given covariates; refuse it for others."""
    if conditions_file is None:
        return {}
    from biogan.data import read_table

    if not getattr(model, "conditions", None):
        raise InvalidDataError(
            f"--conditions-file: this {model.name} model was trained without --conditions; use -n or --labels"
        )
    return {"conditions": read_table(conditions_file, index=False)}


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
    overwrite: Overwrite = False,
    force: Annotated[
        bool, typer.Option(help="Allow targets beyond 10x the largest real label (memory is still checked)")
    ] = False,
) -> None:
    """Append synthetic samples (flagged as 'biogan_synthetic') until labels reach TARGET.

    A .csv/.tsv whose header has the --labels-key column is a table (grown with a TabularGAN);
    anything else is read as cells x genes counts (grown with an ExpressionGAN).
    """
    from biogan._utils import check_output, resolve_device
    from biogan.augmentation import augment, synthetic_flags
    from biogan.data.kinds import KINDS
    from biogan.models import load_model

    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise InvalidDataError(f"--min-confidence is a probability between 0 and 1, not {min_confidence}")
    check_training_length(max_steps)
    resolve_device(device)
    check_output(out, [input, model_dir], overwrite)
    kind = KINDS["table" if _is_table_with(input, labels_key, index) else "cells"]
    kind.check_suffix(out)
    model = load_model(model_dir, device=device) if model_dir else None
    if model is not None and model.data_kind != kind.name:
        raise InvalidDataError(
            f"{model_dir} holds a {type(model).__name__} for {model.data_kind}, but {input} is {kind.name}"
        )
    data = kind.read(input, index=index)
    options: dict[str, Any] = {"max_steps": max_steps} if max_steps is not None else {}
    if kind.name == "cells":
        options["layer"] = pick_layer(data, layer)
    common = {
        "model": model,
        "seed": seed,
        "min_confidence": min_confidence,
        "device": device,
        "force": force,
    }
    result = augment(data, labels_key, target, **common, **options)
    kind.write(result, out, index=index)
    added = int(synthetic_flags(result).sum())
    typer.echo(f"kept {kind.size(data)}, added {added} synthetic {kind.noun}; wrote {out}")


def _is_table_with(path: Path, column: str, index: bool) -> bool:
    """A .csv/.tsv whose header names ``column`` is a table, not a cells x genes matrix."""
    import pandas as pd

    from biogan.data.readers import TABLE_SEPARATORS

    if path.suffix.lower() not in TABLE_SEPARATORS or not path.is_file():
        return False
    sep = TABLE_SEPARATORS[path.suffix.lower()]
    try:
        header = pd.read_csv(path, sep=sep, nrows=0, index_col=0 if index else None).columns
    except (ValueError, OSError, pd.errors.ParserError):
        return False  # not a readable table: read as cells, whose reader gives the one-line error
    return column in header


@app.command("demo")
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")] = Path("biogan_demo"),
    max_steps: Annotated[int, typer.Option(help="Generator steps")] = 400,
    max_minutes: Annotated[float, typer.Option(help="Wall-clock cap on training")] = 3.0,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Train on the bundled PBMC data (train half), sample the held-out half, print metrics.

    OUT is the demo's own folder: a second run replaces what the first wrote there.
    """
    from biogan._utils import check_output, resolve_device
    from biogan.demo import run_demo

    check_training_length(max_steps, max_minutes)
    resolve_device(device)
    check_output(out, [], overwrite=True, folder=True)
    run_demo(out, max_steps=max_steps, max_seconds=max_minutes * 60, seed=seed, device=device)


@app.command("doctor")
@friendly_errors
def doctor() -> None:
    """Versions, devices, threads and where outputs go: what to paste into a bug report."""
    import os
    import platform
    from importlib.metadata import version

    import torch

    import biogan

    cuda = torch.cuda.is_available()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    lines = {
        "biogan": biogan.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "anndata": version("anndata"),
        "scanpy": version("scanpy"),
        "platform": platform.platform(),
        "cpu cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "cuda": f"yes, {len(gpus)} device(s): {', '.join(gpus)}" if cuda else "no (training runs on the CPU)",
        "device auto": "cuda" if cuda else "cpu",
        "distributed": ("gloo, nccl" if cuda else "gloo") if torch.distributed.is_available() else "missing",
        "working folder": str(Path.cwd()),
    }
    for key, value in lines.items():
        typer.echo(f"{key:>15}: {value}")


def _version(value: bool) -> None:
    if value:
        import biogan

        typer.echo(f"biogan {biogan.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Generative adversarial networks for biological data."""


app.command("impute")(friendly_errors(impute))
app.command("evaluate")(evaluate_command)
app.command("report")(report_command)
app.command("compare")(compare_command)


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    sys.exit(app())
