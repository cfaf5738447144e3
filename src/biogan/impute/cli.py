"""``biogan impute``: fill the missing values of a .csv / .tsv table or an .h5ad layer with GANImputer, or
the missing genotype calls of a VCF/BCF with GenotypeImputer.

The main CLI registers :func:`impute` as a command (``app.command("impute")(impute)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biogan.data.readers import read_table, table_separator, write_table
from biogan.errors import InvalidDataError


def _kind(path: Path) -> str:
    from biogan.data.genotypes import VCF_SUFFIXES

    if path.suffix.lower() == ".h5ad":
        return "h5ad"
    if path.name.lower().endswith(VCF_SUFFIXES):
        return "vcf"
    table_separator(path)  # raises for unknown formats
    return "table"


def impute(
    input: Annotated[Path, typer.Argument(help="Table with missing values: .csv, .tsv or .h5ad")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the filled table")],
    layer: Annotated[str | None, typer.Option(help=".h5ad only: the layer to impute (default .X)")] = None,
    random_state: Annotated[int, typer.Option("--random-state", "--seed", help="Seed")] = 0,
    max_steps: Annotated[
        int, typer.Option("--max-steps", "--max-iter", help="Generator steps of the GAN")
    ] = 600,
    categorical: Annotated[
        str | None, typer.Option(help="Comma-separated columns to treat as categorical")
    ] = None,
    clip: Annotated[bool, typer.Option(help="Keep imputations within each column's observed range")] = True,
    index: Annotated[bool, typer.Option(help="The first column of a table holds row names")] = True,
    reference: Annotated[
        Path | None, typer.Option(help="VCF only: a phased reference panel at the same SNPs")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="VCF only: a trained GenotypeGAN whose synthetic haplotypes serve as the panel"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output")] = False,
) -> Path:
    """Impute every missing value of INPUT and write the result to OUTPUT atomically: a table or .h5ad
    layer with GANImputer, the ./. calls of a VCF/BCF with GenotypeImputer (observed calls unchanged; DS
    and GP added)."""
    from biogan._cli_utils import check_training_length
    from biogan._utils import check_output
    from biogan.impute.imputer import GANImputer

    check_training_length(max_steps)
    check_output(output, [input], overwrite)
    in_kind, out_kind = _kind(input), _kind(output)
    if (in_kind == "vcf") != (out_kind == "vcf"):
        raise InvalidDataError("a VCF/BCF input needs a .vcf, .vcf.gz or .bcf output, and only it does")
    if in_kind == "vcf":
        return _impute_vcf(input, output, reference, model, random_state, max_steps, progress)
    if reference is not None or model is not None:
        raise InvalidDataError("--reference and --model apply to VCF input only")
    if (in_kind == "h5ad") != (out_kind == "h5ad"):
        raise InvalidDataError("an .h5ad input needs an .h5ad output, and a table a .csv/.tsv output")
    if layer is not None and in_kind != "h5ad":
        raise InvalidDataError("--layer only applies to .h5ad input")
    imputer = GANImputer(
        categorical_features=[c.strip() for c in categorical.split(",")] if categorical else None,
        clip=clip,
        max_iter=max_steps,  # scikit-learn's name for the same thing
        random_state=random_state,
        progress=progress,
    )
    if in_kind == "h5ad":
        from biogan.data.readers import read_cells, write_h5ad

        # read_cells turns a text or truncated file into one error instead of h5py's OSError
        filled = imputer.fit_transform(read_cells(input), layer=layer)
        return write_h5ad(filled, output)
    return write_table(imputer.fit_transform(read_table(input, index), layer=None), output, index)


def _impute_vcf(
    input: Path,
    output: Path,
    reference: Path | None,
    model: Path | None,
    seed: int,
    max_steps: int,
    progress: bool,
) -> Path:
    """Fill the ./. calls of ``input`` (panel: ``reference``, or haplotypes sampled from ``model``)."""
    from biogan.data.genotypes import read_genotypes, write_imputed_vcf
    from biogan.impute.genotypes import GenotypeImputer

    if reference is not None and model is not None:
        raise InvalidDataError("give --reference or --model, not both")
    cohort = read_genotypes(input)
    if not cohort.missing.any():
        raise InvalidDataError(f"{input} has no missing calls (./.) to fill")
    panel = read_genotypes(reference) if reference is not None else None
    if model is not None:
        panel = _synthetic_panel(model, cohort, seed)
    imputer = GenotypeImputer(reference=panel, seed=seed, progress=progress, max_steps=max_steps).fit(cohort)
    filled = imputer.transform(cohort)
    path = write_imputed_vcf(input, output, filled, imputer.genotype_probabilities_)
    typer.echo(f"filled {int(cohort.missing.sum())} missing calls of {len(cohort)} samples; wrote {path}")
    return path


def _synthetic_panel(model_dir: Path, cohort, seed: int):
    """As many synthetic samples as the cohort has (at least 500), from a trained GenotypeGAN."""
    from biogan.models import load_model

    model = load_model(model_dir, device="cpu")
    if getattr(model, "data_kind", None) != "genotypes":
        raise InvalidDataError(f"{model_dir} is a {type(model).__name__}, not a model of genotypes")
    return model.sample(max(500, len(cohort)), seed=seed, check_privacy=False)
