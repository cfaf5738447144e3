"""GenotypeGAN and GenotypeImputer on real and simulated haplotypes, beside the field's peers (issue 14).

Data: Yelmen et al.'s 805 SNPs of 1000 Genomes (5,008 haplotypes of 2,504 samples over chromosomes 1-22,
labelled by super-population) and a simulated 1 Mb region (``simulated_genotypes(1000, seed=0)``:
msprime, about 2,400 SNPs, no labels). Each is split by sample 80/20 (stratified by super-population
where there are labels, else a seeded random split); SNPs are sorted by (chromosome, position) at load.

Generation: every generator learns the training 80 % and makes as many haplotypes (per super-population,
where labelled) as the held-out 20 % has; each is judged against the held-out haplotypes. Rows: the
control (the held-out samples split into two halves, one standing in for synthetic data), independent
SNPs at the training allele frequencies (overall, and per super-population), scikit-learn's
``BernoulliRBM`` (Yelmen's other model; Gibbs chains started from random training haplotypes) and
``GenotypeGAN(seed=0).fit(train)`` with its defaults.

Imputation: 5 % of the held-out samples' genotype calls are masked at random (the whole call, both
alleles); the most frequent genotype per SNP, kNN (k = 20), Beagle 5.4 alone and with the training samples
as reference panel, and ``GenotypeImputer`` alone and with that panel fill them, scored on the masked
calls only.

Every method runs in a fresh process (``_common.measured``: one torch and one BLAS thread) for its wall
time and peak memory. Data (never committed): ``--data-dir``, ``$BIOGAN_DATA_DIR`` or ``../shared/data``
(``yelmen_805snp_1000g/``, see its SOURCE.md); the region needs none (msprime). Beagle is the ``beagle``
command (Debian package ``beagle``); without it its rows are skipped.

    python benchmarks/genotype.py [--data-dir DIR] [--datasets yelmen,region] [--tasks generate,impute]
    python benchmarks/genotype.py --quick      # tiny settings, a smoke test of the script only
    python benchmarks/genotype.py --ablation --datasets yelmen --seconds 200   # settings at equal time
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp

from biogan.data.datasets import simulated_genotypes
from biogan.data.genotypes import GenotypeSet, read_hapt, read_vcf, write_vcf
from biogan.metrics.genotypes import (
    aats,
    allele_frequencies,
    common_snps,
    exact_copy_rate,
    ld_matrix_agreement,
    ld_r2,
    pc_c2st,
    privacy_loss,
)

YELMEN = "yelmen_805snp_1000g"
LABELS_KEY = "super_pop"
N_PCS = 20  # principal components the C2ST forest sees (biogan.evaluate's default for genotypes)
MASK_SHARE = 0.05
KNN_K = 20
RBM = {"n_components": 200, "learning_rate": 0.01, "n_iter": 50, "batch_size": 10}
RBM_GIBBS_STEPS = 1000
QUICK = {
    "samples": 200,  # samples kept per data set
    "gan": {"max_seconds": 20},
    "rbm": {"n_components": 50, "learning_rate": 0.01, "n_iter": 3, "batch_size": 10},
    "gibbs": 50,
    "imputer": {"max_steps": 100, "max_rows": 128, "replicates": 1, "n_draws": 2},
}
GENERATION_COLUMNS = [
    "AF r",
    "mean |ΔAF|",
    "LD r",
    "mean |Δr²|",
    "C2ST AUROC",
    "AATS",
    "AA truth",
    "AA synthetic",
    "privacy loss",
    "exact copies",
    "fit+sample s",
    "peak MiB",
]
IMPUTATION_COLUMNS = ["concordance", "non-ref concordance", "dosage r²", "fit+impute s", "peak MiB"]


# ---------------------------------------------------------------------------------------------- data
def data_dir(given: str | None = None) -> Path:
    if given:
        return Path(given)
    return Path(os.environ.get("BIOGAN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def sort_snps(data: GenotypeSet) -> GenotypeSet:
    """``data`` with its SNPs in (chromosome, position) order, chromosomes numerically (what a VCF for
    Beagle needs); unchanged when they already are."""
    chrom = data.variants["chrom"].astype(str)
    number = pd.to_numeric(chrom, errors="coerce").fillna(np.inf).to_numpy()
    order = np.lexsort((data.variants["pos"].to_numpy(), chrom.to_numpy(), number))
    if (order == np.arange(len(order))).all():
        return data
    return GenotypeSet(
        data.calls[:, order], data.samples, data.variants.iloc[order], data.phased, data.labels
    )


def load(name: str, root: Path, quick: bool, seed: int) -> GenotypeSet | None:
    """The data set's phased diploid samples; ``None`` when its folder is absent."""
    if name == "yelmen":
        folder = root / YELMEN
        if not folder.exists():
            return None
        data = read_hapt(
            folder / "805_SNP_1000G_real.hapt.zip",  # pandas reads the single-member zip directly
            legend=folder / "805_SNP.legend",
            samples_file=folder / "integrated_call_samples_v3.20130502.ALL.panel",
            labels_key=LABELS_KEY,
        )
        if quick:
            keep, _ = split_samples(len(data), data.labels, 1 - QUICK["samples"] / len(data), seed)
            data = data.subset(keep)
        return sort_snps(data)
    if name == "region":
        return sort_snps(simulated_genotypes(QUICK["samples"] if quick else 1000, seed=0))
    raise ValueError(f"unknown data set {name!r}: use yelmen or region")


def split_samples(
    n: int, labels: np.ndarray | None, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of ``n`` samples in two parts, ``1 - share`` and ``share`` of them: stratified by
    ``labels`` when given, else a plain seeded random split."""
    from sklearn.model_selection import train_test_split

    first, second = train_test_split(np.arange(n), test_size=share, random_state=seed, stratify=labels)
    return np.sort(first), np.sort(second)


def split(data: GenotypeSet, seed: int) -> tuple[GenotypeSet, GenotypeSet]:
    """80 % training and 20 % held-out samples (both haplotypes of a sample on one side)."""
    train, held = split_samples(len(data), data.labels, 0.2, seed)
    return data.subset(train), data.subset(held)


def label_counts(data: GenotypeSet) -> dict[str, int] | None:
    """Samples per label (``None`` without labels)."""
    if data.labels is None:
        return None
    values, counts = np.unique(data.labels, return_counts=True)
    return {str(v): int(k) for v, k in zip(values, counts, strict=True)}


# ------------------------------------------------------------------------------------------ processes
def high_water_mib(pid: int | str = "self") -> float:
    """Peak resident memory (``VmHWM``) of process ``pid`` since it last exec'd, in MiB (0 once gone).

    Not ``ru_maxrss``: a process started by fork (or vfork) and exec inherits its parent's peak in
    ``ru_maxrss`` (measured: a spawned worker reports 2 GiB after its parent allocated 2 GiB), so a worker
    would report the parent's peak once the parent has grown.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


def _one_thread(fn, *args):
    """``fn(*args)`` with one torch and one BLAS thread (two spinning threads per process stall a shared
    2-core machine), its info extended by this process's own peak memory; an error comes back as
    ``("error", message)``, since ``measured`` would otherwise wait for a result forever."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, info = fn(*args)
    except Exception as error:  # reported as the row's result
        return "error", f"{type(error).__name__}: {error}"
    return result, {**info, "own_peak_MiB": high_water_mib()}


def run_measured(fn, *args) -> tuple[object, dict, float, float]:
    """``fn(*args)`` in a fresh process: (result, info, wall seconds, peak MiB).

    Peak MiB is the peak resident memory of that Python process (:func:`high_water_mib`, interpreter
    and imports included; :func:`idle_peak` is that floor), not ``_common.measured``'s ``ru_maxrss``
    (which would include this process's own peak). Where ``fn`` runs an external program (Beagle), the
    program's own peak instead (``fn`` reports it as ``info["program_peak_MiB"]``); the Python process's
    peak then goes into the notes.
    """
    (result, info), seconds, _ = measured(_one_thread, fn, *args)
    if isinstance(result, str):  # ("error", message) from _one_thread
        return None, {"error": info}, seconds, float("nan")
    info = dict(info)
    peak = info.pop("own_peak_MiB")
    if "program_peak_MiB" in info:
        info["python_peak_MiB"] = round(peak)
        peak = info["program_peak_MiB"]
    return result, info, seconds, peak


def _idle():
    return None, {}


def idle_peak() -> float:
    """Peak MiB of a worker process that runs nothing: the floor of every Python row's memory."""
    return measured(_one_thread, _idle)[0][1]["own_peak_MiB"]


def run_watched(command: list[str]) -> tuple[int, str, float]:
    """Run ``command``; its exit status, output (stdout and stderr) and peak memory in MiB (its
    ``VmHWM`` read every 50 ms while it runs: the high-water mark only grows, so the last reading misses
    at most the final 50 ms)."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, high_water_mib(process.pid))
            time.sleep(0.05)
        log.seek(0)
        return process.returncode, log.read().decode(errors="replace"), peak


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 sent to /dev/null (htslib warns of every contig Beagle's header leaves out)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# ---------------------------------------------------------------------------------------- generators
def run_independent(train: GenotypeSet, held: GenotypeSet, per_label: bool, seed: int, _settings):
    """Independent SNPs: each allele drawn at its training ALT frequency (per label with ``per_label``)."""
    rng = np.random.default_rng(seed)
    haps, labels = train.haplotypes(), train.haplotype_labels()
    if not per_label:
        return (rng.random((held.ploidy * len(held), train.n_snps)) < haps.mean(axis=0)).astype(np.int8), {}
    parts = []
    for label, n in label_counts(held).items():
        frequency = haps[labels == label].mean(axis=0)
        parts.append((rng.random((held.ploidy * n, train.n_snps)) < frequency).astype(np.int8))
    return np.vstack(parts), {}


def run_rbm(train: GenotypeSet, held: GenotypeSet, seed: int, settings: dict):
    """scikit-learn's BernoulliRBM on the training haplotypes; Gibbs chains started from random training
    haplotypes, ``settings["gibbs"]`` steps each, one chain per synthetic haplotype."""
    from sklearn.neural_network import BernoulliRBM

    haps = train.haplotypes().astype(np.float64)
    rbm = BernoulliRBM(random_state=seed, **settings["rbm"]).fit(haps)
    rng = np.random.default_rng(seed)
    start = rng.choice(len(haps), held.ploidy * len(held), replace=len(haps) < held.ploidy * len(held))
    v = haps[start]
    for _ in range(settings["gibbs"]):
        v = rbm.gibbs(v).astype(np.float64)
    return v.astype(np.int8), {**settings["rbm"], "gibbs_steps": settings["gibbs"]}


def run_gan(train: GenotypeSet, held: GenotypeSet, seed: int, settings: dict):
    """GenotypeGAN as the README calls it (defaults; ``--quick`` adds a time cap); as many samples per
    label as the held-out set has."""
    from biogan.models import GenotypeGAN

    model = GenotypeGAN(seed=seed).fit(train, progress=False, **settings["gan"])
    counts = label_counts(held)
    if counts:
        synthetic = model.sample(labels=counts, seed=seed, check_privacy=False)
    else:
        synthetic = model.sample(len(held), seed=seed, check_privacy=False)
    best = model.trainer.best
    info = {
        "steps": model.trainer.step,
        "kept_step": best["step"] if best else None,
        "own_privacy_check": {k: round(float(v), 4) for k, v in model.privacy.items()},
        "mixture start (components: held-out score)": {
            k: round(v, 4) for k, v in model.problem.mixture_scores.items()
        },
    }
    return synthetic.haplotypes(), info


GENERATORS = {
    "independent SNPs (training AF)": (run_independent, (False,), False),
    "independent SNPs per super-population": (run_independent, (True,), True),  # labelled data only
    "BernoulliRBM": (run_rbm, (), False),
    "GenotypeGAN (defaults)": (run_gan, (), False),
}


ABLATION = {
    "defaults (mlp, bernoulli, mixture start)": {},
    "mixture_components=0 (no mixture start)": {"mixture_components": 0},
    "output=threshold": {"output": "threshold"},
    "minibatch_std=True": {"minibatch_std": True},
    "architecture=conv": {"architecture": "conv"},
}
"""GenotypeGAN settings compared at equal wall-clock time (``--ablation``)."""


def run_gan_setting(train: GenotypeSet, held: GenotypeSet, seed: int, settings: dict):
    """GenotypeGAN with ``settings["config"]`` overrides for ``settings["seconds"]`` of training."""
    from biogan.models import GenotypeGAN

    model = GenotypeGAN(seed=seed, **settings["config"])
    model.fit(train, max_steps=10**6, max_seconds=settings["seconds"], progress=False)
    counts = label_counts(held)
    n = {"labels": counts} if counts else {"n": len(held)}
    synthetic = model.sample(**n, seed=seed, check_privacy=False)
    best = model.trainer.best
    return synthetic.haplotypes(), {"steps": model.trainer.step, "kept_step": best["step"] if best else None}


def ablation(name: str, train: GenotypeSet, held: GenotypeSet, seed: int, seconds: float) -> tuple[str, list]:
    """The generation metrics of each :data:`ABLATION` setting after ``seconds`` of training."""
    held_haps, train_haps = held.haplotypes(), train.haplotypes()
    variants = held.variants
    snps = {
        "pos": variants["pos"].to_numpy(dtype=np.int64),
        "chrom": variants["chrom"].astype(str).to_numpy(),
        "ld": common_snps(allele_frequencies(held_haps), None),
    }
    rows, notes = [], []
    for label, config in ABLATION.items():
        settings = {"config": config, "seconds": seconds}
        synth, info, wall, peak = run_measured(run_gan_setting, train, held, seed, settings)
        if synth is None:
            rows.append({"method": f"{label} (failed)", "fit+sample s": wall, "peak MiB": peak})
        else:
            rows.append({"method": label, **judge(held_haps, synth, train_haps, snps, seed)})
            rows[-1].update({"fit+sample s": wall, "peak MiB": peak})
        notes.append(f"{label}: {info}")
    table = pd.DataFrame(rows).set_index("method").reindex(columns=GENERATION_COLUMNS)
    return table_markdown(table), notes


# ------------------------------------------------------------------------------------ generation metrics
def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def judge(ref: np.ndarray, other: np.ndarray, train: np.ndarray, snps: dict, seed: int) -> dict[str, float]:
    """Every generation metric of ``other`` haplotypes against the real ``ref`` haplotypes (equal sizes:
    each helper subsamples the larger set), with privacy against the ``train`` haplotypes."""
    af_ref, af_other = allele_frequencies(ref), allele_frequencies(other)
    ld = snps["ld"]
    ld_r, ld_diff = ld_matrix_agreement(
        ld_r2(ref[:, ld]), ld_r2(other[:, ld]), snps["pos"][ld], snps["chrom"][ld]
    )
    score, truth, synth = aats(ref, other, seed)
    return {
        "AF r": _pearson(af_ref, af_other),
        "mean |ΔAF|": float(np.nanmean(np.abs(af_ref - af_other))),
        "LD r": ld_r,
        "mean |Δr²|": ld_diff,
        "C2ST AUROC": pc_c2st(ref, other, n_pcs=N_PCS, seed=seed),
        "AATS": score,
        "AA truth": truth,
        "AA synthetic": synth,
        "privacy loss": privacy_loss(other, train, ref, seed),
        "exact copies": exact_copy_rate(other, train),
    }


def control_row(train: GenotypeSet, held: GenotypeSet, snps: dict, seed: int) -> dict[str, float]:
    """Half of the held-out samples (stratified by label) as "synthetic" data against the other half; the
    exact-copy column is the rate of all held-out haplotypes (the floor a generator should not exceed)."""
    first, second = split_samples(len(held), held.labels, 0.5, seed)
    stand_in, ref = held.subset(first).haplotypes(), held.subset(second).haplotypes()
    row = judge(ref, stand_in, train.haplotypes(), snps, seed)
    row["exact copies"] = exact_copy_rate(held.haplotypes(), train.haplotypes())
    return row


def generation(
    name: str, train: GenotypeSet, held: GenotypeSet, seed: int, quick: bool
) -> tuple[str, list[str]]:
    """The generation table of one data set (markdown) and one note per method."""
    held_haps, train_haps = held.haplotypes(), train.haplotypes()
    variants = held.variants
    snps = {
        "pos": variants["pos"].to_numpy(dtype=np.int64),
        "chrom": variants["chrom"].astype(str).to_numpy(),
        # LD on the SNPs common (MAF >= 0.05) in the held-out set, the same SNPs for every row
        "ld": common_snps(allele_frequencies(held_haps), None),
    }
    settings = {
        "gan": QUICK["gan"] if quick else {},
        "rbm": QUICK["rbm"] if quick else RBM,
        "gibbs": QUICK["gibbs"] if quick else RBM_GIBBS_STEPS,
    }
    rows = [{"method": "control (held-out halves)", **control_row(train, held, snps, seed)}]
    notes = []
    for method, (fn, extra, needs_labels) in GENERATORS.items():
        if needs_labels and held.labels is None:
            continue
        args = (train, held, *extra, seed, settings)
        synth, info, seconds, peak = run_measured(fn, *args)
        if synth is None:
            rows.append({"method": f"{method} (failed)", "fit+sample s": seconds, "peak MiB": peak})
        else:
            assert synth.shape == held_haps.shape, (method, synth.shape, held_haps.shape)
            rows.append({"method": method, **judge(held_haps, synth, train_haps, snps, seed)})
            rows[-1].update({"fit+sample s": seconds, "peak MiB": peak})
        if info:
            notes.append(f"{method}: {info}")
    table = pd.DataFrame(rows).set_index("method").reindex(columns=GENERATION_COLUMNS)
    return table_markdown(table), notes


# ------------------------------------------------------------------------------------------ imputation
def mask_calls(held: GenotypeSet, seed: int) -> tuple[GenotypeSet, np.ndarray]:
    """``held`` with ``MASK_SHARE`` of its (sample, SNP) calls set missing (both alleles), and that mask."""
    rng = np.random.default_rng(seed)
    n, m = len(held), held.n_snps
    mask = np.zeros(n * m, dtype=bool)
    mask[rng.choice(n * m, round(MASK_SHARE * n * m), replace=False)] = True
    mask = mask.reshape(n, m)
    calls = held.calls.copy()
    calls[mask] = -1
    return GenotypeSet(calls, held.samples, held.variants, held.phased, held.labels), mask


def impute_most_frequent(masked: GenotypeSet, _train: GenotypeSet, _seed: int, _settings):
    """The most frequent observed genotype (ALT count) of each SNP in the masked cohort."""
    dosage = masked.calls.sum(axis=2).astype(np.int64)
    observed = ~masked.missing
    counts = np.stack([((dosage == g) & observed).sum(axis=0) for g in range(masked.ploidy + 1)])
    mode = counts.argmax(axis=0)
    hard = np.where(observed, dosage, mode[None, :])
    return (hard, hard.astype(np.float64)), {}


def impute_knn(masked: GenotypeSet, _train: GenotypeSet, _seed: int, _settings):
    """scikit-learn's KNNImputer (k = 20) on the masked cohort's dosages, rounded to a genotype."""
    from sklearn.impute import KNNImputer

    filled = KNNImputer(n_neighbors=KNN_K).fit_transform(masked.dosages())
    hard = np.clip(np.rint(filled), 0, masked.ploidy).astype(np.int64)
    return (hard, hard.astype(np.float64)), {}  # no probabilities: the hard call is the dosage


def impute_beagle(masked: GenotypeSet, train: GenotypeSet | None, seed: int, settings: dict):
    """Beagle 5.4 on a VCF of the masked cohort (phased, missing calls as ``.|.``), with ``train`` as its
    reference panel when given; genotypes read back from its output VCF (matched by sample and SNP)."""
    with tempfile.TemporaryDirectory(prefix="biogan-beagle-") as folder:
        folder = Path(folder)
        write_vcf(masked, folder / "masked.vcf.gz")
        command = [
            "beagle",
            f"gt={folder / 'masked.vcf.gz'}",
            f"out={folder / 'out'}",
            "gp=true",
            f"seed={seed}",
            f"nthreads={settings['beagle_threads']}",
        ]
        if train is not None:
            write_vcf(train, folder / "train.vcf.gz")
            command.append(f"ref={folder / 'train.vcf.gz'}")
        # /usr/bin/beagle execs java: the peak is the Java VM's
        status, output, program_peak = run_watched(command)
        if status != 0:
            raise RuntimeError(f"beagle exited {status}: {output[-800:]}")
        with _quiet_stderr():
            out = read_vcf(folder / "out.vcf.gz")
            dosage_field = _read_ds(folder / "out.vcf.gz")
    rows = [out.samples.index(s) for s in masked.samples]
    keys = {
        (str(c), int(p)): j
        for j, (c, p) in enumerate(zip(out.variants["chrom"], out.variants["pos"], strict=True))
    }
    columns = [
        keys[(str(c), int(p))] for c, p in zip(masked.variants["chrom"], masked.variants["pos"], strict=True)
    ]
    calls = out.calls[rows][:, columns]
    if (calls < 0).any():
        raise RuntimeError(f"Beagle left {(calls < 0).any(axis=2).sum()} calls missing")
    hard = calls.sum(axis=2).astype(np.int64)
    dosage = hard.astype(np.float64)
    if dosage_field is not None:  # DS where Beagle wrote it (it does not for markers in gt=: none here)
        ds = dosage_field[rows][:, columns]
        dosage = np.where(np.isfinite(ds), ds, dosage)
    info = {
        "program_peak_MiB": round(program_peak),
        "DS written for": "no masked call" if dosage_field is None else "some calls",
    }
    return (hard, dosage), info


def _read_ds(path: Path) -> np.ndarray | None:
    """``(samples, records)`` DS values of a VCF (NaN where a record has none), or ``None`` if none has."""
    import cyvcf2

    columns, seen = [], False
    vcf = cyvcf2.VCF(str(path))
    try:
        n = len(vcf.samples)
        for record in vcf:
            ds = record.format("DS")
            seen = seen or ds is not None
            columns.append(np.full(n, np.nan) if ds is None else ds[:, 0].astype(np.float64))
    finally:
        vcf.close()
    return np.stack(columns, axis=1) if seen else None


def impute_beagle_alone(masked: GenotypeSet, _train: GenotypeSet, seed: int, settings: dict):
    return impute_beagle(masked, None, seed, settings)


def impute_beagle_panel(masked: GenotypeSet, train: GenotypeSet, seed: int, settings: dict):
    return impute_beagle(masked, train, seed, settings)


def impute_biogan(masked: GenotypeSet, train: GenotypeSet | None, seed: int, settings: dict):
    """``GenotypeImputer(seed=seed)`` (defaults; ``--quick`` shrinks it), with ``train`` as its panel."""
    from biogan.impute.genotypes import GenotypeImputer

    imputer = GenotypeImputer(reference=train, seed=seed, **settings["imputer"]).fit(masked)
    filled = imputer.transform(masked)
    gp = imputer.genotype_probabilities_
    trainer = imputer.trainer
    info = {"steps": trainer.step, "kept_step": trainer.best["step"] if trainer.best else None}
    return (filled.calls.sum(axis=2).astype(np.int64), gp[..., 1] + 2 * gp[..., 2]), info


def impute_biogan_alone(masked: GenotypeSet, _train: GenotypeSet, seed: int, settings: dict):
    return impute_biogan(masked, None, seed, settings)


def impute_biogan_panel(masked: GenotypeSet, train: GenotypeSet, seed: int, settings: dict):
    return impute_biogan(masked, train, seed, settings)


IMPUTERS = {
    "most frequent genotype per SNP": (impute_most_frequent, False),
    f"kNN (k = {KNN_K}, rounded)": (impute_knn, False),
    "Beagle 5.4": (impute_beagle_alone, True),
    "Beagle 5.4 + training panel": (impute_beagle_panel, True),
    "GenotypeImputer": (impute_biogan_alone, False),
    "GenotypeImputer + training panel": (impute_biogan_panel, False),
}


def imputation_scores(truth: np.ndarray, hard: np.ndarray, dosage: np.ndarray) -> dict[str, float]:
    """Scores over the masked calls: ``truth``, ``hard`` and ``dosage`` are their true ALT counts,
    imputed genotypes (ALT counts) and imputed dosages."""
    nonref = truth > 0
    r = _pearson(truth.astype(np.float64), dosage.astype(np.float64))
    return {
        "concordance": float(np.mean(hard == truth)),
        "non-ref concordance": float(np.mean(hard[nonref] == truth[nonref]))
        if nonref.any()
        else float("nan"),
        "dosage r²": r * r,
    }


def imputation(name: str, train: GenotypeSet, held: GenotypeSet, seed: int, quick: bool, beagle_threads: int):
    """The imputation table of one data set (markdown) and one note per method."""
    masked, mask = mask_calls(held, seed)
    truth = held.calls.sum(axis=2)[mask]
    settings = {"imputer": QUICK["imputer"] if quick else {}, "beagle_threads": beagle_threads}
    has_beagle = shutil.which("beagle") is not None
    rows, notes = [], []
    for method, (fn, needs_beagle) in IMPUTERS.items():
        if needs_beagle and not has_beagle:
            notes.append(f"{method}: skipped (no `beagle` on PATH; Debian/Ubuntu: apt-get install beagle)")
            continue
        result, info, seconds, peak = run_measured(fn, masked, train, seed, settings)
        if result is None:
            rows.append({"method": f"{method} (failed)", "fit+impute s": seconds, "peak MiB": peak})
        else:
            hard, dosage = result
            if not (hard[~mask] == held.calls.sum(axis=2)[~mask]).all():
                info = {**info, "warning": "observed calls were changed"}
            rows.append({"method": method, **imputation_scores(truth, hard[mask], dosage[mask])})
            rows[-1].update({"fit+impute s": seconds, "peak MiB": peak})
        if info:
            notes.append(f"{method}: {info}")
    table = pd.DataFrame(rows).set_index("method").reindex(columns=IMPUTATION_COLUMNS)
    header = (
        f"{int(mask.sum())} masked calls ({MASK_SHARE:.0%} of {len(held)} held-out samples x {held.n_snps} "
        f"SNPs); {int((truth > 0).sum())} of them non-reference (het or hom-ALT)"
    )
    return header + "\n\n" + table_markdown(table), notes


# ------------------------------------------------------------------------------------------------ report
def table_markdown(table: pd.DataFrame) -> str:
    shown = table.copy().astype(object)
    for column in table.columns:
        digits = 0 if column == "peak MiB" else 1 if column.endswith(" s") else 3
        shown[column] = [
            "–" if pd.isna(v) else f"{v:.{digits}f}" for v in pd.to_numeric(table[column], errors="coerce")
        ]
    return shown.to_markdown()


NOTES = """\
Generation columns (every row against the held-out haplotypes, as many synthetic haplotypes as there
are held-out ones; the control row: half of the held-out samples against the other half, so its sets are
half the size and its AF/LD differences carry about sqrt(2) x more sampling noise than a method's would):
AF r / mean |ΔAF| = Pearson r and mean absolute difference of the per-SNP ALT allele frequencies;
LD r / mean |Δr²| = Pearson r and mean absolute difference of the r² values of the SNP pairs at most
1 Mb apart on one chromosome (SNPs with MAF >= 0.05 in the held-out set); C2ST AUROC = random forest
telling real from synthetic haplotypes on 20 principal components fit on their union (5-fold, equal
sizes; 0.5 = indistinguishable); AATS (AA truth, AA synthetic) = Yelmen's nearest-neighbour adversarial
accuracy on Hamming distances, ties counted 1/2 (0.5 ideal, near 0 = copies); privacy loss =
AATS(held-out, synthetic) - AATS(training, synthetic) at equal sizes (about 0 ideal, 0.5 = copies);
exact copies = share of synthetic haplotypes identical to a training haplotype (control row: share of
held-out real haplotypes); fit+sample s and peak MiB = wall time and peak resident memory (VmHWM) of the
fresh process that fit and sampled (interpreter and imports included).
Imputation columns (masked calls only): concordance = share imputed exactly; non-ref concordance = the
same among masked calls whose true genotype is het or hom-ALT; dosage r² = squared Pearson correlation,
pooled over all masked calls, of the true ALT count with the imputed dosage (P(het) + 2 P(hom-ALT) where
the method gives probabilities, GenotypeImputer; else its hard call: most frequent, kNN, Beagle, which
writes no DS for markers of its gt= file); fit+impute s = wall time of the fresh process (for Beagle:
writing the VCFs, Beagle, reading its output); peak MiB = its peak resident memory, except for Beagle:
the peak of Beagle's Java process alone (the Python process around it is in the notes).
Peak memory of a Python row includes the interpreter and imports: see the idle floor above."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $BIOGAN_DATA_DIR or ../shared/data")
    parser.add_argument("--datasets", default="yelmen,region")
    parser.add_argument("--tasks", default="generate,impute")
    parser.add_argument("--seed", type=int, default=0, help="split, mask and method seed")
    parser.add_argument("--beagle-threads", type=int, default=1, help="Beagle's nthreads= (1 like the rest)")
    parser.add_argument("--quick", action="store_true", help="tiny settings to smoke-test the script")
    parser.add_argument(
        "--ablation", action="store_true", help="GenotypeGAN settings at equal time instead of the tasks"
    )
    parser.add_argument("--seconds", type=float, default=200, help="training time per --ablation setting")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="markdown report (default benchmarks/results/genotype.md; none with --quick unless given)",
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    default_out = Path(__file__).parent / "results" / "genotype.md"
    out = args.out or (None if args.quick or args.ablation else default_out)
    root = data_dir(args.data_dir)
    tasks = args.tasks.split(",")
    unknown = set(tasks) - {"generate", "impute"}
    if unknown:
        parser.error(f"unknown tasks {sorted(unknown)}: use generate, impute")
    command = "python benchmarks/genotype.py " + " ".join(sys.argv[1:] if argv is None else argv)
    parts = [
        "# Genotype benchmark (issue 14)",
        f"Command: `{command.strip()}`  \nMachine: {machine()}, 1 torch/BLAS thread per process, Beagle "
        f"nthreads={args.beagle_threads}  \nDate: {utc_stamp()}  \nSeed: {args.seed}  \n"
        f"Idle worker process (interpreter and imports, no method): {idle_peak():.0f} MiB peak"
        + ("  \n**--quick: tiny settings, a smoke test; the numbers mean nothing.**" if args.quick else ""),
    ]
    print("\n\n".join(parts), flush=True)
    for name in args.datasets.split(","):
        start = time.perf_counter()
        data = load(name, root, args.quick, args.seed)
        if data is None:
            section = f"## {name}: skipped ({root / YELMEN} is absent; see ../shared/README.md for the data)"
            print("\n" + section, flush=True)
            parts.append(section)
            continue
        train, held = split(data, args.seed)
        counts = label_counts(held)
        about = (
            f"{len(train)} training / {len(held)} held-out samples "
            f"({len(held) * held.ploidy} held-out haplotypes), "
            f"{data.n_snps} SNPs on {data.variants['chrom'].nunique()} chromosome(s)"
            + (f"; held-out {LABELS_KEY}: {counts}" if counts else "; unlabelled, random split")
        )
        for task in ["ablation"] if args.ablation else tasks:
            if task == "ablation":
                title = f"## GenotypeGAN settings at {args.seconds:.0f} s each: {name}"
                body, notes = ablation(name, train, held, args.seed, args.seconds)
            elif task == "generate":
                title = f"## Generation: {name}"
                body, notes = generation(name, train, held, args.seed, args.quick)
            else:
                title = f"## Imputation: {name}"
                body, notes = imputation(name, train, held, args.seed, args.quick, args.beagle_threads)
            section = "\n\n".join([title, about, body, "\n".join(f"- {n}" for n in notes)]).rstrip()
            print("\n" + section, flush=True)
            parts.append(section)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s in all)", flush=True)
    parts.append(NOTES)
    print("\n" + NOTES)
    if out is not None:
        from biogan._utils import atomic_write

        report = "\n\n".join(parts) + "\n"
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda p: p.write_text(report))
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
