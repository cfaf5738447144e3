"""Real data that ships inside installed packages (no download), and splits for honest evaluation."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from biogan.data.genotypes import GenotypeSet
from biogan.data.sequences import ALPHABETS, SequenceSet
from biogan.data.structures import StructureSet, concatenate, read_structures


def pbmc68k_counts() -> ad.AnnData:
    """700 PBMCs x 765 genes as raw integer UMI counts, read from the file inside scanpy's wheel.

    scanpy stores ``log1p(counts / n_counts * 1e4)`` in ``.raw``; inverting that with each cell's
    ``n_counts`` recovers the integer counts exactly (up to float rounding). The cell types from
    ``obs["bulk_labels"]`` are copied to ``obs["cell_type"]`` (10 types, 240 down to 8 cells).

    Returns
    -------
    AnnData
        Sparse CSR integer counts in ``.X`` and ``layers["counts"]``.
    """
    import scanpy as sc

    ref = sc.datasets.pbmc68k_reduced()
    lognorm = ref.raw.X.toarray() if sp.issparse(ref.raw.X) else np.asarray(ref.raw.X)
    n_counts = ref.obs["n_counts"].to_numpy(dtype=np.float64)[:, None]
    counts = np.expm1(lognorm.astype(np.float64)) * n_counts / 1e4
    rounded = np.rint(counts)
    if np.abs(counts - rounded).max() > 0.25 or rounded.min() < 0:  # guards against a changed file
        raise RuntimeError("scanpy's pbmc68k_reduced no longer inverts to integer counts")
    X = sp.csr_matrix(rounded.astype(np.float32))
    obs = ref.obs[["bulk_labels", "n_counts"]].copy()
    obs["cell_type"] = obs["bulk_labels"].astype(str).astype("category")
    adata = ad.AnnData(X=X, obs=obs, var=ref.raw.var[[]].copy())
    adata.layers["counts"] = X.copy()
    return adata


def stratified_split(
    adata: ad.AnnData, labels_key: str | None, test_size: float = 0.5, seed: int = 0
) -> tuple[ad.AnnData, ad.AnnData]:
    """Split cells into train and held-out parts with the same label proportions (fixed seed)."""
    strata = adata.obs[labels_key].to_numpy() if labels_key else None
    idx_train, idx_test = train_test_split(
        np.arange(adata.n_obs), test_size=test_size, random_state=seed, stratify=strata
    )
    return adata[np.sort(idx_train)].copy(), adata[np.sort(idx_test)].copy()


def bacterial_proteins(max_length: int | None = None, genes: bool = False) -> SequenceSet:
    """Real proteins (or their genes) of a bacterial genome, predicted from the genome in pyrodigal's wheel.

    The 2.46 Mb genome ``GCF_001457455.1`` (NCTC 11397) ships in ``pyrodigal/tests/data``; pyrodigal's
    gene finder, trained on it, predicts 2,343 genes in about a second. Deterministic: no seed needed.

    Parameters
    ----------
    max_length
        Keep only sequences of at most this many letters (``None``: all).
    genes
        Return the genes (DNA, start to stop codon) instead of the proteins (stop ``*`` removed).

    Returns
    -------
    SequenceSet
        IDs ``gene1``, ``gene2``, ... in genome order; alphabet ``"protein"`` or ``"dna"``.
    """
    import gzip
    from importlib.resources import files

    import pyrodigal
    from Bio import SeqIO

    path = files("pyrodigal") / "tests" / "data" / "GCF_001457455.1_NCTC11397_genomic.fna.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as handle:
        contigs = [bytes(record.seq) for record in SeqIO.parse(handle, "fasta")]
    finder = pyrodigal.GeneFinder()
    finder.train(*contigs)
    found = [g for contig in contigs for g in finder.find_genes(contig)]
    sequences = [g.sequence() if genes else g.translate().rstrip("*") for g in found]
    ids = [f"gene{i + 1}" for i in range(len(sequences))]
    keep = [i for i, s in enumerate(sequences) if max_length is None or len(s) <= max_length]
    alphabet = "dna" if genes else "protein"
    # pyrodigal translates rare ambiguous codons as X; such proteins are left out of the set
    keep = [i for i in keep if set(sequences[i]) <= set(ALPHABETS[alphabet])]
    return SequenceSet([sequences[i] for i in keep], alphabet, [ids[i] for i in keep])


def simulated_genotypes(
    n_samples: int = 1000,
    length: float = 1e6,
    n_populations: int = 1,
    migration_rate: float = 1e-4,
    min_maf: float = 0.01,
    seed: int = 0,
) -> GenotypeSet:
    """Phased diploid genotypes of a region simulated with msprime (the field's coalescent simulator).

    Defaults follow the benchmark of issue 14: Ne 10,000, recombination 1e-8 and mutation 1.25e-8 per
    base and generation, a binary (REF/ALT) mutation model, SNPs with minor-allele frequency >= ``min_maf``.
    ``n_populations > 1`` splits the samples evenly over an island model (demes exchanging ``migration_rate``
    of their members per generation); the deme is each sample's label (``pop0``, ``pop1``, ...).
    """
    import msprime

    if n_populations == 1:
        demography = msprime.Demography.isolated_model([1e4])
    else:
        demography = msprime.Demography.island_model([1e4] * n_populations, migration_rate)
    per_deme = [n_samples // n_populations + (i < n_samples % n_populations) for i in range(n_populations)]
    ancestry = msprime.sim_ancestry(
        samples={pop.name: k for pop, k in zip(demography.populations, per_deme, strict=True)},
        demography=demography,
        sequence_length=length,
        recombination_rate=1e-8,
        random_seed=seed + 1,  # msprime refuses seed 0
    )
    tree_seq = msprime.sim_mutations(
        ancestry, rate=1.25e-8, random_seed=seed + 1, model=msprime.BinaryMutationModel()
    )
    haplotypes = tree_seq.genotype_matrix().T.astype(np.int8)  # (2 * n_samples, sites)
    frequency = haplotypes.mean(axis=0)
    keep = np.minimum(frequency, 1 - frequency) >= min_maf
    positions = tree_seq.tables.sites.position[keep].astype(np.int64) + 1  # VCF is 1-based
    keep_unique = np.r_[True, np.diff(positions) > 0]  # one SNP per base
    haplotypes, positions = haplotypes[:, keep][:, keep_unique], positions[keep_unique]
    rng = np.random.default_rng(seed)
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, len(positions))
    alt = (ref + rng.integers(1, 4, len(positions))) % 4
    variants = pd.DataFrame(
        {
            "chrom": "1",
            "pos": positions,
            "id": [f"1:{p}" for p in positions],
            "ref": bases[ref],
            "alt": bases[alt],
        }
    )
    deme = np.repeat([f"pop{i}" for i in range(n_populations)], per_deme)
    data = GenotypeSet.from_haplotypes(haplotypes, variants, 2, deme if n_populations > 1 else None)
    data.samples = [f"sample{i + 1}" for i in range(len(data))]
    return data


SECONDARY_STRUCTURE = {
    # (bond angle, torsion) of the virtual Cα chain, degrees, and their spread
    "helix": ((91.0, 50.0), (2.0, 4.0)),
    "strand": ((120.0, -170.0), (5.0, 10.0)),
}


def ideal_backbones(n_chains: int = 40, length: int = 120, seed: int = 0) -> StructureSet:
    """Cα chains built in code from ideal secondary structure: α-helices (bond angle 91°, torsion +50°),
    β-strands (120°, -170°) and loops (angles 80-150°, any torsion), 5-20 residues each, with small
    Gaussian jitter; consecutive atoms exactly 3.8 Å apart. Each chain is its own group.

    The known geometry makes them test data for the structure kind (a generator that learns them must
    reproduce the two torsion peaks); they are no substitute for real structures
    (:func:`example_structures`).
    """
    import torch

    from biogan.data.backbones import place_chain

    rng = np.random.default_rng(seed)
    angles = np.zeros((n_chains, length - 2))
    torsions = np.zeros((n_chains, length - 3))
    kinds = ("helix", "strand", "loop")
    for c in range(n_chains):
        pos = 0
        while pos < length - 2:
            kind = kinds[rng.choice(3, p=[0.45, 0.3, 0.25])]
            run = int(rng.integers(5, 21))
            end = min(pos + run, length - 2)
            if kind == "loop":
                angles[c, pos:end] = rng.uniform(80, 150, end - pos)
                torsions[c, pos : min(end, length - 3)] = rng.uniform(-180, 180, min(end, length - 3) - pos)
            else:
                (a, t), (sa, st) = SECONDARY_STRUCTURE[kind]
                angles[c, pos:end] = rng.normal(a, sa, end - pos)
                torsions[c, pos : min(end, length - 3)] = rng.normal(t, st, min(end, length - 3) - pos)
            pos = end
    coords = place_chain(torch.from_numpy(np.radians(angles)), torch.from_numpy(np.radians(torsions)))
    chains = list(coords.numpy().astype(np.float32))
    ids = [f"ideal{c + 1}:A:1-{length}" for c in range(n_chains)]
    return StructureSet(chains, ids, np.array([f"ideal{c + 1}" for c in range(n_chains)]))


def example_structures() -> StructureSet:
    """Real crystal structures that ship inside the ``tmtools`` wheel (no download): Lumbricus
    erythrocruorin 2GTL (15 globin-like chains, mostly α-helical) and 7OK9 (44 chain segments), read from
    their PDB files.

    Raises
    ------
    ImportError
        ``tmtools`` is not installed (``pip install tmtools``, or biogan's ``structures`` extra).
    """
    from importlib.resources import files

    try:
        folder = files("tmtools") / "data"
    except ModuleNotFoundError:
        raise ImportError(
            "the example structures ship inside the tmtools package: pip install tmtools"
        ) from None
    return concatenate([read_structures(folder / name, warn=False) for name in ("2gtl.pdb", "7ok9.pdb")])
