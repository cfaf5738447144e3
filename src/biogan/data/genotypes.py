"""Genotypes at biallelic SNPs: VCF/BCF and ``.hapt`` in, VCF out, sample panels for labels.

A :class:`GenotypeSet` is what the genotype kind passes around: one allele code per sample, SNP and
chromosome copy (``0`` = REF, ``1`` = ALT, ``-1`` = missing), the SNPs (chromosome, position, ID, REF,
ALT), sample names, whether the calls are phased, and optional labels (a population per sample).

VCF and BCF are read and written with cyvcf2 (htslib underneath: bgzipped, indexed or plain files, the
same parser as bcftools, and whole genotype rows as NumPy arrays instead of a Python object per call;
pysam's per-sample records are about 50x slower to fill for a cohort). Sites that are not biallelic SNPs
(indels, multi-allelic sites) are skipped and counted. Yelmen et al.'s ``.hapt`` matrices (one haplotype
per row, ``<sample>_A`` / ``<sample>_B``) are read with pandas.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from biogan._utils import atomic_write
from biogan.errors import InvalidDataError

VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
HAPT_SUFFIXES = (".hapt", ".hapt.gz", ".hapt.zip")
SUFFIXES = VCF_SUFFIXES + HAPT_SUFFIXES
_SHOWN = 5  # samples or sites named in an error message
VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt")


def _cyvcf2():
    """cyvcf2, with htslib's own stderr messages off: every problem reaches the user as one biogan error."""
    import cyvcf2
    from cyvcf2.cyvcf2 import set_htslib_log_level

    set_htslib_log_level(0)
    return cyvcf2


class SkippedSitesWarning(UserWarning):
    """Sites of a VCF that biogan does not model (indels, multi-allelic sites) were skipped."""


@dataclass
class GenotypeSet:
    """Allele calls of samples at biallelic SNPs.

    Parameters
    ----------
    calls
        ``int8`` array ``(n_samples, n_snps, ploidy)``: ``0`` REF, ``1`` ALT, ``-1`` missing.
    samples
        One name per sample.
    variants
        One row per SNP with columns ``chrom``, ``pos``, ``id``, ``ref``, ``alt`` (in genome order).
    phased
        Whether the chromosome copies of each sample are phased haplotypes.
    labels
        One label per sample (text, e.g. the super-population), or ``None``.
    """

    calls: np.ndarray
    samples: list[str]
    variants: pd.DataFrame
    phased: bool = True
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.calls = np.asarray(self.calls, dtype=np.int8)
        if self.calls.ndim == 2:
            self.calls = self.calls[:, :, None]
        if self.calls.ndim != 3:
            raise InvalidDataError("calls must be (samples, SNPs, ploidy)")
        if len(self.samples) != self.calls.shape[0]:
            raise InvalidDataError(f"{len(self.samples)} sample names for {self.calls.shape[0]} samples")
        if len(self.variants) != self.calls.shape[1]:
            raise InvalidDataError(f"{len(self.variants)} SNP rows for {self.calls.shape[1]} SNPs")
        missing = [c for c in VARIANT_COLUMNS if c not in self.variants.columns]
        if missing:
            raise InvalidDataError(f"the SNP table lacks the columns {missing}")
        self.samples = [str(s) for s in self.samples]
        self.variants = self.variants.reset_index(drop=True)
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(str)
            if len(self.labels) != len(self.samples):
                raise InvalidDataError(f"{len(self.labels)} labels for {len(self.samples)} samples")

    def __len__(self) -> int:
        return self.calls.shape[0]

    @property
    def n_snps(self) -> int:
        return self.calls.shape[1]

    @property
    def ploidy(self) -> int:
        return self.calls.shape[2]

    @property
    def missing(self) -> np.ndarray:
        """``(n_samples, n_snps)``: the call is missing (any of its alleles)."""
        return (self.calls < 0).any(axis=2)

    def haplotypes(self) -> np.ndarray:
        """``(n_samples * ploidy, n_snps)`` alleles: the copies of sample 0, then of sample 1, ..."""
        return self.calls.transpose(0, 2, 1).reshape(-1, self.n_snps)

    def haplotype_labels(self) -> np.ndarray | None:
        """The label of every row of :meth:`haplotypes`."""
        return None if self.labels is None else np.repeat(self.labels, self.ploidy)

    def dosages(self) -> np.ndarray:
        """``(n_samples, n_snps)`` ALT allele counts as floats, NaN where the call is missing."""
        dosage = self.calls.sum(axis=2).astype(float)
        dosage[self.missing] = np.nan
        return dosage

    def subset(self, index: Sequence[int] | np.ndarray) -> GenotypeSet:
        """The samples at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return GenotypeSet(
            self.calls[index],
            [self.samples[i] for i in index],
            self.variants,
            self.phased,
            None if self.labels is None else self.labels[index],
        )

    @classmethod
    def from_haplotypes(
        cls,
        haplotypes: np.ndarray,
        variants: pd.DataFrame,
        ploidy: int = 2,
        labels: Sequence[str] | np.ndarray | None = None,
        prefix: str = "synthetic",
    ) -> GenotypeSet:
        """Pair consecutive haplotype rows into samples of ``ploidy`` copies (``labels``: one per sample)."""
        haplotypes = np.asarray(haplotypes, dtype=np.int8)
        if len(haplotypes) % ploidy:
            raise InvalidDataError(f"{len(haplotypes)} haplotypes do not pair into samples of {ploidy}")
        n = len(haplotypes) // ploidy
        calls = haplotypes.reshape(n, ploidy, -1).transpose(0, 2, 1)
        return cls(calls, [f"{prefix}{i + 1}" for i in range(n)], variants, True, labels)


# ---------------------------------------------------------------------------------------------- samples
def read_samples_file(path: str | os.PathLike, key: str) -> dict[str, str]:
    """``{sample: label}`` from a whitespace-separated panel with a header (1000 Genomes:
    ``sample pop super_pop gender``); ``key`` is the label column."""
    path = Path(path)
    try:
        panel = pd.read_csv(path, sep=r"\s+", dtype=str)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InvalidDataError(f"{path}: cannot read the samples file ({error})") from None
    if panel.shape[1] < 2:
        raise InvalidDataError(
            f"{path}: a samples file has a header and at least two columns (sample and a label such as "
            "super_pop), separated by spaces or tabs"
        )
    if key not in panel.columns:
        raise InvalidDataError(
            f"{path} has no column {key!r}; its columns are {', '.join(panel.columns)} (--labels-key)"
        )
    id_column = panel.columns[0]
    return dict(zip(panel[id_column], panel[key], strict=True))


def attach_labels(data: GenotypeSet, labels: dict[str, str], source: str) -> GenotypeSet:
    """``data`` with each sample's label from ``labels``; every sample must be listed."""
    absent = [s for s in data.samples if s not in labels]
    if absent:
        raise InvalidDataError(
            f"{len(absent)} of {len(data)} samples are not in {source} (e.g. {', '.join(absent[:_SHOWN])}); "
            "use the samples file of this cohort"
        )
    data.labels = np.array([labels[s] for s in data.samples], dtype=str)
    return data


# ---------------------------------------------------------------------------------------------- VCF in
def read_vcf(
    path: str | os.PathLike,
    region: str | None = None,
    samples_file: str | os.PathLike | None = None,
    labels_key: str | None = None,
) -> GenotypeSet:
    """Read the biallelic SNPs of a VCF or BCF file (plain, bgzipped; ``region`` needs an index).

    Parameters
    ----------
    path
        ``.vcf``, ``.vcf.gz`` or ``.bcf``.
    region
        ``"chr:start-end"`` to read one region (the file must be indexed).
    samples_file, labels_key
        A sample panel (:func:`read_samples_file`) and the column that labels each sample.

    Notes
    -----
    Indels and multi-allelic sites are skipped (a :class:`SkippedSitesWarning` says how many). Samples
    must have one ploidy throughout (chrX of males is haploid: read the autosomes, or those samples
    apart).
    """
    cyvcf2 = _cyvcf2()
    path = Path(path)
    if not path.is_file():
        raise InvalidDataError(f"{path}: no such file")
    try:
        vcf = cyvcf2.VCF(str(path), gts012=False, strict_gt=False, lazy=True)
    except (OSError, ValueError, Exception) as error:  # cyvcf2 raises bare Exceptions for bad files
        raise InvalidDataError(f"{path} is not a VCF or BCF file htslib can read ({error})") from None
    try:
        samples = list(vcf.samples)
        if not samples:
            raise InvalidDataError(f"{path} has no samples (no genotype columns)")
        rows, variants, phased, skipped = _read_records(vcf(region) if region else vcf, path)
    except ValueError as error:  # htslib's own complaints about records or regions
        if isinstance(error, InvalidDataError):
            raise
        raise InvalidDataError(f"{path}: {error}") from None
    finally:
        vcf.close()
    if not rows:
        where = f" in {region}" if region else ""
        other = f" ({skipped} indels or multi-allelic sites, which biogan skips)" if skipped else ""
        raise InvalidDataError(f"{path} has no biallelic SNPs{where}{other}")
    if skipped:
        warnings.warn(
            f"{path}: skipped {skipped} sites that are not biallelic SNPs (indels or multi-allelic)",
            SkippedSitesWarning,
            stacklevel=2,
        )
    calls = np.stack(rows, axis=1)
    data = GenotypeSet(calls, samples, pd.DataFrame(variants, columns=list(VARIANT_COLUMNS)), phased)
    if (samples_file is None) != (labels_key is None):
        raise InvalidDataError("give both --samples-file and --labels-key, or neither")
    if samples_file is not None:
        attach_labels(data, read_samples_file(samples_file, str(labels_key)), str(samples_file))
    return data


def _read_records(records, path: Path) -> tuple[list[np.ndarray], list[tuple], bool, int]:
    """Allele rows ``(n_samples, ploidy)`` of every biallelic SNP, their descriptions, whether every
    non-missing call is phased, and how many sites were skipped."""
    rows, variants, skipped, phased, ploidy = [], [], 0, True, None
    for record in records:
        alt = record.ALT
        if len(alt) != 1 or len(record.REF) != 1 or len(alt[0]) != 1 or alt[0] in ".*":
            skipped += 1
            continue
        array = record.genotype.array()  # (n, ploidy + 1): alleles, then the phased flag
        alleles, flags = array[:, :-1], array[:, -1]
        short = (alleles == -2).any(axis=1)  # htslib pads lower-ploidy calls with "vector end"
        if short.any() or (ploidy is not None and alleles.shape[1] != ploidy):
            raise InvalidDataError(
                f"{path}: samples have different ploidies at {record.CHROM}:{record.POS} (e.g. haploid "
                "chrX calls of males); read the autosomes, or split the samples by ploidy"
            )
        ploidy = alleles.shape[1]
        if (alleles > 1).any():
            skipped += 1
            continue
        called = (alleles >= 0).all(axis=1)
        phased = phased and bool(flags[called].all() or ploidy == 1)
        rows.append(alleles.astype(np.int8))
        variants.append((str(record.CHROM), int(record.POS), record.ID or ".", record.REF, alt[0]))
    return rows, variants, phased, skipped


# --------------------------------------------------------------------------------------------- .hapt in
def read_hapt(
    path: str | os.PathLike,
    legend: str | os.PathLike | None = None,
    samples_file: str | os.PathLike | None = None,
    labels_key: str | None = None,
) -> GenotypeSet:
    """Read a ``.hapt`` haplotype matrix (Yelmen et al.: ``tag id allele1 allele2 ...``, no header).

    Rows ``<sample>_A`` and ``<sample>_B`` become one phased diploid sample; a file whose rows do not
    pair up is read as haploid samples. ``legend`` is the matching ``id position a0 a1`` table (with
    header); without it the SNPs are named ``snp1 ...`` at positions 1, 2, ... on chromosome ``.``.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, dtype={0: str, 1: str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise InvalidDataError(f"{path}: cannot read a .hapt matrix ({e})") from None
    alleles = frame.iloc[:, 2:]
    if alleles.shape[1] == 0 or not alleles.isin([0, 1]).all().all():
        raise InvalidDataError(f"{path}: .hapt rows are 'tag id' then alleles coded 0 and 1 only")
    ids = frame.iloc[:, 1].astype(str).tolist()
    haplotypes = alleles.to_numpy(dtype=np.int8)
    variants = _legend(legend, haplotypes.shape[1])
    stems = [i[:-2] for i in ids]
    paired = (
        len(ids) % 2 == 0
        and all(i.endswith("_A") for i in ids[::2])
        and all(i.endswith("_B") for i in ids[1::2])
        and stems[::2] == stems[1::2]
    )
    if paired:
        data = GenotypeSet.from_haplotypes(haplotypes, variants, ploidy=2)
        data.samples = stems[::2]
    else:
        data = GenotypeSet.from_haplotypes(haplotypes, variants, ploidy=1)
        data.samples = ids
    if samples_file is not None:
        attach_labels(data, read_samples_file(samples_file, str(labels_key)), str(samples_file))
    return data


def _legend(legend: str | os.PathLike | None, n_snps: int) -> pd.DataFrame:
    if legend is None:
        return pd.DataFrame(
            {
                "chrom": ".",
                "pos": np.arange(1, n_snps + 1),
                "id": [f"snp{i + 1}" for i in range(n_snps)],
                "ref": "A",
                "alt": "C",
            }
        )
    table = pd.read_csv(legend, sep=r"\s+", dtype=str)
    if len(table) != n_snps or table.shape[1] < 4:
        raise InvalidDataError(f"{legend}: a legend has 'id position a0 a1' for each of the {n_snps} SNPs")
    ids = table.iloc[:, 0]
    chrom = ids.str.split(":").str[0].where(ids.str.contains(":"), ".")
    return pd.DataFrame(
        {
            "chrom": chrom,
            "pos": table.iloc[:, 1].astype(int),
            "id": ids,
            "ref": table.iloc[:, 2],
            "alt": table.iloc[:, 3],
        }
    )


def read_genotypes(path: str | os.PathLike, **options) -> GenotypeSet:
    """Read a VCF/BCF (:func:`read_vcf`) or ``.hapt`` (:func:`read_hapt`) by its extension."""
    name = str(path).lower()
    if name.endswith(HAPT_SUFFIXES):
        options.pop("region", None)
        return read_hapt(path, **options)
    if name.endswith(VCF_SUFFIXES):
        return read_vcf(path, **options)
    raise InvalidDataError(f"{path}: genotypes are read from {', '.join(SUFFIXES)}; rename or convert it")


# --------------------------------------------------------------------------------------------- VCF out
def vcf_header(data: GenotypeSet, extra_format: Sequence[str] = (), source: str = "biogan") -> str:
    """A VCF 4.2 header for ``data`` (contigs sized by their last SNP)."""
    lines = ["##fileformat=VCFv4.2", f"##source={source}"]
    for chrom, pos in data.variants.groupby("chrom", sort=False)["pos"].max().items():
        lines.append(f"##contig=<ID={chrom},length={int(pos)}>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.extend(FORMAT_LINES[name] for name in extra_format)
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *data.samples]
    return "\n".join([*lines, "\t".join(columns)]) + "\n"


FORMAT_LINES = {
    "DS": '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Estimated ALT dose [P(0/1)+2*P(1/1)]">',
    "GP": '##FORMAT=<ID=GP,Number=G,Type=Float,Description="Estimated genotype probability">',
}


def genotype_strings(calls: np.ndarray, phased: bool) -> np.ndarray:
    """VCF GT strings (``0|1``, ``./.``), ``(n_samples, n_snps)``, of ``calls`` (samples, SNPs, ploidy)."""
    symbols = np.array([".", "0", "1"], dtype=object)
    text = symbols[calls[..., 0] + 1]
    separator = "|" if phased else "/"
    for copy in range(1, calls.shape[2]):
        text = text + separator + symbols[calls[..., copy] + 1]
    return text


def write_vcf(data: GenotypeSet, path: str | os.PathLike, source: str = "biogan") -> Path:
    """Write ``data`` as a VCF (bgzipped for ``.vcf.gz``, BCF for ``.bcf``) through cyvcf2, atomically."""
    cyvcf2 = _cyvcf2()
    name = str(path).lower()
    if not name.endswith(VCF_SUFFIXES):
        raise InvalidDataError(f"{path}: genotypes are written as {' or '.join(VCF_SUFFIXES)}")
    mode = "wb" if name.endswith(".bcf") else "wz" if name.endswith((".gz", ".bgz")) else "w"
    gt = genotype_strings(data.calls, data.phased)
    fixed = data.variants.astype({"pos": int}).astype(str)

    def write(tmp: Path) -> None:
        writer = cyvcf2.Writer.from_string(str(tmp), vcf_header(data, source=source), mode=mode)
        try:
            for j, row in enumerate(fixed.itertuples(index=False)):
                line = "\t".join([row.chrom, row.pos, row.id, row.ref, row.alt, ".", "PASS", ".", "GT"])
                writer.write_record(writer.variant_from_string(line + "\t" + "\t".join(gt[:, j])))
        finally:
            writer.close()

    return atomic_write(path, write, suffix=_suffix(name))


def _suffix(name: str) -> str:
    for suffix in (".vcf.gz", ".vcf.bgz", ".bcf", ".vcf"):
        if name.endswith(suffix):
            return suffix
    return ""


def write_imputed_vcf(
    source: str | os.PathLike, path: str | os.PathLike, filled: GenotypeSet, gp: np.ndarray
) -> Path:
    """Copy the VCF ``source`` to ``path`` with the missing calls of its SNPs filled from ``filled``.

    Every record and every observed call stays as it was; the modelled SNPs gain the ``DS`` and ``GP``
    FORMAT fields (``gp``: ``(n_samples, n_snps, 3)``; certain for observed calls), other records (indels,
    multi-allelic sites) pass through unchanged.
    """
    cyvcf2 = _cyvcf2()
    name = str(path).lower()
    if not name.endswith(VCF_SUFFIXES):
        raise InvalidDataError(f"{path}: imputed genotypes are written as {' or '.join(VCF_SUFFIXES)}")
    mode = "wb" if name.endswith(".bcf") else "wz" if name.endswith((".gz", ".bgz")) else "w"
    keys = list(zip(filled.variants["chrom"].astype(str), filled.variants["pos"].astype(int), strict=True))
    where = {key: j for j, key in enumerate(keys)}
    dosage = (gp[..., 1] + 2 * gp[..., 2]).astype(np.float32)
    ploidy_gp = gp[..., :2] if filled.ploidy == 1 else gp

    def write(tmp: Path) -> None:
        vcf = cyvcf2.VCF(str(source), gts012=False, strict_gt=False)
        for line in FORMAT_LINES.values():
            vcf.add_format_to_header(_format_fields(line))
        writer = cyvcf2.Writer(str(tmp), vcf, mode=mode)
        try:
            for record in vcf:
                j = where.get((str(record.CHROM), int(record.POS)))
                if j is not None and len(record.ALT) == 1 and record.ALT[0] == filled.variants["alt"][j]:
                    _fill_record(record, filled, j, dosage[:, j], ploidy_gp[:, j])
                writer.write_record(record)
        finally:
            writer.close()
            vcf.close()

    return atomic_write(path, write, suffix=_suffix(name))


def _format_fields(line: str) -> dict[str, str]:
    body = line.split("<", 1)[1].rstrip(">")
    fields = dict(part.split("=", 1) for part in body.split(",", 3))
    fields["Description"] = fields["Description"].strip('"')
    return fields


def _fill_record(record, filled: GenotypeSet, j: int, dosage: np.ndarray, gp: np.ndarray) -> None:
    """Missing calls of ``record`` (SNP ``j`` of ``filled``) set from ``filled``; DS and GP added."""
    array = record.genotype.array()
    missing = (array[:, :-1] < 0).any(axis=1)
    if missing.any():
        alleles = filled.calls[:, j, :]
        phased = array[:, -1].astype(bool) | (missing & filled.phased)
        chosen = np.where(missing[:, None], alleles, array[:, :-1])
        record.genotypes = [[*map(int, a), bool(p)] for a, p in zip(chosen, phased, strict=True)]
    record.set_format("DS", dosage.reshape(-1, 1).astype(np.float32))
    record.set_format("GP", np.ascontiguousarray(gp, dtype=np.float32))


__all__ = [
    "SUFFIXES",
    "GenotypeSet",
    "SkippedSitesWarning",
    "read_genotypes",
    "read_hapt",
    "read_samples_file",
    "read_vcf",
    "write_imputed_vcf",
    "write_vcf",
]
