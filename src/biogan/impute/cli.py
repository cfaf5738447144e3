"""``biogan impute``: fill the missing values of a .csv / .tsv table or an .h5ad layer with GANImputer.

The main CLI registers :func:`impute` as a command (``app.command("impute")(impute)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biogan.data.readers import read_table, table_separator, write_table
from biogan.errors import InvalidDataError


def _kind(path: Path) -> str:
    if path.suffix.lower() == ".h5ad":
        return "h5ad"
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output")] = False,
) -> Path:
    """Impute every missing value of INPUT with GANImputer and write the result to OUTPUT atomically."""
    from biogan._cli_utils import check_training_length
    from biogan._utils import check_output
    from biogan.impute.imputer import GANImputer

    check_training_length(max_steps)
    check_output(output, [input], overwrite)
    in_kind, out_kind = _kind(input), _kind(output)
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
