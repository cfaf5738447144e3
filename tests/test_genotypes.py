"""Genotypes: VCF and .hapt in and out, input errors, GenotypeGAN, the privacy gate, imputation, CLI."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biogan.cli import app
from biogan.data.datasets import simulated_genotypes
from biogan.data.genotypes import (
    GenotypeSet,
    SkippedSitesWarning,
    read_genotypes,
    read_hapt,
    read_vcf,
    write_imputed_vcf,
    write_vcf,
)
from biogan.errors import InvalidDataError, PrivacyWarning
from biogan.impute.genotypes import GenotypeImputer, match_features
from biogan.metrics.genotypes import ld_r2
from biogan.models import GenotypeGAN, load_model
from biogan.models.genotype import haplotype_hashes

TINY = {"hidden": 64, "noise_dim": 16, "batch_size": 32, "eval_every": 20, "channels": 8, "n_blocks": 1}
FAST_IMPUTER = {"max_steps": 120, "channels": 16, "n_blocks": 3, "max_rows": 256, "n_draws": 2}


@pytest.fixture(scope="module")
def region() -> GenotypeSet:
    return simulated_genotypes(150, length=2e5, n_populations=2, migration_rate=1e-3, seed=3)


def _vcf_text(samples: list[str], rows: list[str]) -> str:
    header = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1,length=100000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    return "\n".join(header + rows) + "\n"


def _record(pos: int, ref: str, alt: str, calls: list[str]) -> str:
    return "\t".join(["1", str(pos), f"s{pos}", ref, alt, ".", "PASS", ".", "GT", *calls])


# ---------------------------------------------------------------------------------------- files
@pytest.mark.parametrize("name", ["x.vcf", "x.vcf.gz", "x.bcf"])
def test_vcf_round_trip_keeps_calls_sites_and_phase(tmp_path, region, name):
    data = region.subset(range(20))
    write_vcf(data, tmp_path / name)
    back = read_vcf(tmp_path / name)
    assert back.samples == data.samples and back.phased
    np.testing.assert_array_equal(back.calls, data.calls)
    pd.testing.assert_frame_equal(back.variants, data.variants.astype({"pos": int}), check_dtype=False)
    if name.endswith(".gz"):
        with gzip.open(tmp_path / name, "rt") as handle:
            assert handle.readline().startswith("##fileformat=VCF")


def test_unphased_calls_round_trip_and_are_reported_unphased(tmp_path, region):
    data = region.subset(range(10))
    data.phased = False
    data.calls[0, 0] = -1
    write_vcf(data, tmp_path / "u.vcf.gz")
    back = read_vcf(tmp_path / "u.vcf.gz")
    assert not back.phased and back.missing[0, 0] and back.missing.sum() == 1
    np.testing.assert_array_equal(back.calls.sum(2)[~back.missing], data.calls.sum(2)[~data.missing])


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not installed")
def test_written_vcf_passes_bcftools_view(tmp_path, region):
    write_vcf(region.subset(range(5)), tmp_path / "x.vcf.gz")
    result = subprocess.run(["bcftools", "view", "-H", str(tmp_path / "x.vcf.gz")], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == region.n_snps


def test_indels_and_multiallelic_sites_are_skipped_with_a_count(tmp_path):
    rows = [
        _record(10, "A", "G", ["0|1", "1|1"]),
        _record(20, "A", "AT", ["0|1", "0|0"]),
        _record(30, "C", "G,T", ["0|2", "1|0"]),
        _record(40, "G", "C", ["0|0", "0|1"]),
    ]
    (tmp_path / "m.vcf").write_text(_vcf_text(["a", "b"], rows))
    with pytest.warns(SkippedSitesWarning, match="skipped 2 sites"):
        data = read_vcf(tmp_path / "m.vcf")
    assert data.variants["pos"].tolist() == [10, 40]
    np.testing.assert_array_equal(data.calls[:, 0], [[0, 1], [1, 1]])


def test_mixed_ploidy_and_empty_files_get_one_clear_error(tmp_path):
    (tmp_path / "x.vcf").write_text(_vcf_text(["a", "b"], [_record(10, "A", "G", ["0|1", "1"])]))
    with pytest.raises(InvalidDataError, match=r"different ploidies.*chrX"):
        read_vcf(tmp_path / "x.vcf")
    (tmp_path / "e.vcf").write_text(_vcf_text(["a"], []))
    with pytest.raises(InvalidDataError, match="no biallelic SNPs"):
        read_vcf(tmp_path / "e.vcf")
    (tmp_path / "n.vcf").write_text("this is not a vcf\n")
    with pytest.raises(InvalidDataError, match="not a VCF"):
        read_vcf(tmp_path / "n.vcf")


def test_samples_file_labels_samples_and_names_the_mismatch(tmp_path, region):
    data = region.subset(range(6))
    write_vcf(data, tmp_path / "x.vcf")
    panel = pd.DataFrame({"sample": data.samples, "pop": list("ABABAB"), "super_pop": list("XXYYXX")})
    panel.to_csv(tmp_path / "panel.tsv", sep="\t", index=False)
    labelled = read_vcf(tmp_path / "x.vcf", samples_file=tmp_path / "panel.tsv", labels_key="super_pop")
    assert labelled.labels.tolist() == list("XXYYXX")
    with pytest.raises(InvalidDataError, match=r"no column 'continent'.*super_pop"):
        read_vcf(tmp_path / "x.vcf", samples_file=tmp_path / "panel.tsv", labels_key="continent")
    panel.iloc[:3].to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    with pytest.raises(InvalidDataError, match="3 of 6 samples are not in"):
        read_vcf(tmp_path / "x.vcf", samples_file=tmp_path / "short.tsv", labels_key="pop")


def test_hapt_rows_pair_into_diploid_samples(tmp_path):
    rows = ["Real HG1_A 0 1 1", "Real HG1_B 1 1 0", "Real HG2_A 0 0 0", "Real HG2_B 1 0 1"]
    (tmp_path / "x.hapt").write_text("\n".join(rows) + "\n")
    (tmp_path / "x.legend").write_text(
        "id position a0 a1\n1:100_A_G 100 A G\n1:200_C_T 200 C T\n2:50_G_A 50 G A\n"
    )
    data = read_hapt(tmp_path / "x.hapt", legend=tmp_path / "x.legend")
    assert data.samples == ["HG1", "HG2"] and data.ploidy == 2 and data.phased
    np.testing.assert_array_equal(data.haplotypes(), [[0, 1, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1]])
    assert data.variants["chrom"].tolist() == ["1", "1", "2"] and data.variants["ref"].tolist() == list("ACG")
    (tmp_path / "bad.hapt").write_text("Real a 0 2\n")
    with pytest.raises(InvalidDataError, match="0 and 1 only"):
        read_genotypes(tmp_path / "bad.hapt")


# ---------------------------------------------------------------------------------------- GenotypeGAN
@pytest.fixture(scope="module")
def trained(region) -> GenotypeGAN:
    return GenotypeGAN(seed=0, **TINY).fit(region, max_steps=60, progress=False)


def test_same_seed_same_model_and_samples_and_save_load(tmp_path, region, trained):
    again = GenotypeGAN(seed=0, **TINY).fit(region, max_steps=60, progress=False)
    a, b = trained.sample(30, seed=4, check_privacy=False), again.sample(30, seed=4, check_privacy=False)
    np.testing.assert_array_equal(a.calls, b.calls)
    trained.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.sample(30, seed=4, check_privacy=False).calls, a.calls)
    assert loaded.privacy == trained.privacy and loaded.training_hashes == trained.training_hashes


def test_conditional_samples_carry_requested_labels_and_write_a_vcf(tmp_path, trained):
    out = trained.sample(labels={"pop0": 5, "pop1": 3}, seed=1, check_privacy=False)
    assert len(out) == 8 and sorted(out.labels.tolist()) == ["pop0"] * 5 + ["pop1"] * 3
    assert out.phased and out.ploidy == 2 and set(np.unique(out.calls)) <= {0, 1}
    write_vcf(out, tmp_path / "s.vcf.gz")
    assert read_vcf(tmp_path / "s.vcf.gz").n_snps == trained.variants.shape[0]


def test_unphased_or_incomplete_training_data_are_refused(region):
    unphased = region.subset(range(60))
    unphased.phased = False
    with pytest.raises(InvalidDataError, match=r"unphased.*phase them first"):
        GenotypeGAN(**TINY).fit(unphased, max_steps=1, progress=False)
    holes = region.subset(range(60))
    holes.calls[0, 0, 0] = -1
    with pytest.raises(InvalidDataError, match=r"1 missing calls.*biogan impute"):
        GenotypeGAN(**TINY).fit(holes, max_steps=1, progress=False)


def test_privacy_gate_trips_on_copies_of_training_haplotypes(trained, region):
    copies = GenotypeSet.from_haplotypes(
        region.haplotypes()[np.isin(np.arange(2 * len(region)), trained._split[0])][:60], trained.variants
    )
    assert "exact copies of training haplotypes" in trained.release_problem(copies)
    # a model that had been trained on what it now draws: sample() warns, the CLI would refuse
    drawn = trained.sample(5, seed=2, check_privacy=False).haplotypes()
    kept = set(trained.training_hashes)
    trained.training_hashes |= set(haplotype_hashes(drawn))
    try:
        with pytest.warns(PrivacyWarning, match="100.0% of the synthetic haplotypes are exact copies"):
            trained.sample(5, seed=2)
    finally:
        trained.training_hashes = kept


@pytest.mark.slow
def test_short_training_beats_independent_snps_on_ld(region):
    train, held = region.subset(range(0, 150, 2)), region.subset(range(1, 150, 2))
    model = GenotypeGAN(seed=0).fit(train, max_steps=600, progress=False)
    synthetic = model.sample(len(held), seed=1, check_privacy=False).haplotypes()
    real = held.haplotypes()
    rng = np.random.default_rng(0)
    independent = (rng.random(real.shape) < train.haplotypes().mean(0)).astype(np.int8)

    def ld_agreement(other):
        a, b = ld_r2(real), ld_r2(other)
        upper = np.triu_indices_from(a, 1)
        return np.corrcoef(a[upper], b[upper])[0, 1]

    assert ld_agreement(synthetic) > ld_agreement(independent) + 0.3


def _hidden_subpopulations(seed: int = 0, n: int = 150, n_snps: int = 60) -> GenotypeSet:
    """One label over three hidden groups with their own allele frequencies (1000 Genomes' populations
    inside a super-population, in miniature)."""
    rng = np.random.default_rng(seed)
    freq = rng.choice([0.1, 0.9], size=(3, n_snps))
    group = np.repeat(np.arange(3), n // 3 * 2)  # both haplotypes of a sample in one group
    haplotypes = (rng.random((len(group), n_snps)) < freq[group]).astype(np.int8)
    variants = pd.DataFrame(
        {"chrom": "1", "pos": np.arange(1, n_snps + 1) * 100_000, "id": ".", "ref": "A", "alt": "G"}
    )
    return GenotypeSet.from_haplotypes(haplotypes, variants)


def _snp_correlation_error(real: np.ndarray, other: np.ndarray) -> float:
    upper = np.triu_indices(real.shape[1], 1)
    return float(np.abs(np.corrcoef(real.T)[upper] - np.corrcoef(other.T)[upper]).mean())


def test_mixture_start_finds_hidden_subpopulations():
    data = _hidden_subpopulations()
    real = data.haplotypes()
    model = GenotypeGAN(seed=0, **TINY).fit(data, max_steps=0, progress=False)  # the start alone
    scores = model.problem.mixture_scores
    assert min(scores, key=scores.get) >= 3, scores  # one component per label would miss the groups
    drawn = model.sample(len(data), seed=1, check_privacy=False).haplotypes()
    rng = np.random.default_rng(1)
    independent = (rng.random(real.shape) < real.mean(0)).astype(np.int8)
    # The groups make SNPs correlate (|r| ~ 0.5); independent alleles lose that, the mixture keeps it.
    assert _snp_correlation_error(real, drawn) < 0.3 * _snp_correlation_error(real, independent)
    fixed = GenotypeGAN(seed=0, mixture_components=0, **TINY).fit(data, max_steps=0, progress=False)
    assert fixed.problem.mixture_scores == {} and fixed.problem.generator.base is None


@pytest.mark.parametrize("bad", [-1, 17, "many"])
def test_mixture_components_are_checked(bad):
    with pytest.raises(ValueError, match="mixture_components"):
        GenotypeGAN(mixture_components=bad)


# ---------------------------------------------------------------------------------------- imputation
def test_match_features_find_the_row_that_agrees_around_each_snp():
    panel = np.array([[0, 0, 0, 0, 0, 0, 0, 0] * 4, [1, 1, 1, 1, 1, 1, 1, 1] * 4])
    query = panel[1:].copy()
    query[0, 5] = -1
    features = match_features(
        __import__("torch").from_numpy(query),
        __import__("torch").from_numpy(panel),
        __import__("torch").tensor([-1]),
        2,
        ((1, 3.0),),
    )
    assert features.shape == (1, 3, 32)
    assert features[0, 1, 5] > 0.99  # the all-ALT row matches, and carries ALT at the hidden SNP


@pytest.fixture(scope="module")
def masked(region):
    rng = np.random.default_rng(5)
    data = region.subset(range(len(region)))
    hide = rng.random(data.calls.shape[:2]) < 0.05
    data.calls[hide] = -1
    return data, hide


@pytest.fixture(scope="module")
def imputed(masked):
    imputer = GenotypeImputer(seed=0, **FAST_IMPUTER).fit(masked[0])
    return imputer, imputer.transform(masked[0])


def test_imputation_fills_every_gap_and_never_changes_observed_calls(masked, imputed, region):
    _, hide = masked
    imputer, filled = imputed
    assert not filled.missing.any()
    np.testing.assert_array_equal(filled.calls[~hide], region.calls[~hide])
    gp = imputer.genotype_probabilities_
    np.testing.assert_allclose(gp.sum(-1), 1, atol=1e-5)
    truth, guess = region.calls.sum(2)[hide], filled.calls.sum(2)[hide]
    most_frequent = np.array([np.bincount(c, minlength=3).argmax() for c in region.calls.sum(2).T])
    baseline = (np.broadcast_to(most_frequent, hide.shape)[hide] == truth).mean()
    assert (guess == truth).mean() > baseline + 0.05


def test_imputed_vcf_keeps_observed_calls_and_adds_ds_and_gp(tmp_path, masked, imputed):
    import cyvcf2

    imputer, filled = imputed
    write_vcf(masked[0], tmp_path / "in.vcf.gz")
    gp = imputer.genotype_probabilities_
    write_imputed_vcf(tmp_path / "in.vcf.gz", tmp_path / "out.vcf.gz", filled, gp)
    back = read_vcf(tmp_path / "out.vcf.gz")
    np.testing.assert_array_equal(back.calls, filled.calls)
    record = next(iter(cyvcf2.VCF(str(tmp_path / "out.vcf.gz"))))
    assert record.format("GP").shape == (len(filled), 3) and record.format("DS").shape == (len(filled), 1)
    np.testing.assert_allclose(record.format("GP"), gp[:, 0], atol=1e-5)


# ---------------------------------------------------------------------------------------- CLI
def test_cli_train_sample_and_impute(tmp_path, region, masked):
    runner = CliRunner()
    write_vcf(region, tmp_path / "cohort.vcf.gz")
    panel = pd.DataFrame({"sample": region.samples, "super_pop": region.labels})
    panel.to_csv(tmp_path / "panel.tsv", sep="\t", index=False)
    settings = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    result = runner.invoke(
        app,
        ["train", "genotype", str(tmp_path / "cohort.vcf.gz"), "--out", str(tmp_path / "g"),
         "--samples-file", str(tmp_path / "panel.tsv"), "--labels-key", "super_pop",
         "--max-steps", "30", *settings],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["sample", str(tmp_path / "g"), "--labels", "pop0=4,pop1=2", "-o", str(tmp_path / "s.vcf.gz")]
    )
    assert result.exit_code == 0, result.output
    assert len(read_vcf(tmp_path / "s.vcf.gz")) == 6
    data, _ = masked
    write_vcf(data.subset(range(30)), tmp_path / "holes.vcf.gz")
    result = runner.invoke(
        app,
        [
            "impute",
            str(tmp_path / "holes.vcf.gz"),
            "-o",
            str(tmp_path / "filled.vcf.gz"),
            "--no-progress",
            "--max-steps",
            "40",
        ],
    )
    assert result.exit_code == 0, result.output
    assert not read_vcf(tmp_path / "filled.vcf.gz").missing.any()
