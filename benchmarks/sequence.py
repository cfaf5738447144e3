"""SequenceGAN on real DNA and protein sequences beside i.i.d. residues, the best Markov chain, a control.

Per data set: 80/20 split (stratified by label where there are labels); every generator learns the 80 %
and samples as many sequences (per label) as the held-out 20 % has; ``biogan.evaluate(heldout, synthetic,
train=train)`` judges them -- random-forest C2ST on k-mer shares, k-mer spectrum JS, length and
composition distances, uniqueness, exact copies of training sequences and novelty (normalised edit
distance to the nearest training sequence). The *control* row is held-out vs training sequences.

Peers: i.i.d. residues (training composition and lengths); the best order-k Markov chain, k in 0..5 chosen
by the same C2ST on a validation fifth of the training sequences (refit on all of them); SequenceGAN as the
README calls it (``SequenceGAN(seed=s).fit(train, max_seconds=600)``: defaults, a 10-minute budget, early
stopping on its own held-out tenth). Then the feedback loop (FBGAN) on AMP peptides: raise the net charge at
pH 7 (Biopython ProtParam) for 5 rounds, with the C2ST against held-out AMPs before and after.

Data (never committed): ``$BIOGAN_DATA_DIR`` or ``../shared/data`` -- ``fbgan_amp/``,
``proteingan_mdh/``, ``uci_splice_junctions/`` (see each SOURCE.md). Missing folders are skipped.

    python benchmarks/sequence.py [--datasets amp,uniprot,splice,mdh] [--seconds 600] [--seed 0]
    python benchmarks/sequence.py --ablation --seconds 200      # settings compared on AMP at equal time
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp

from biogan import evaluate
from biogan.data.sequences import ALPHABETS, SequenceSet, read_fasta
from biogan.models import IIDResidues, MarkovChain, SequenceGAN

METRICS = [
    "c2st_rf_auc",
    "kmer_js_k1",
    "kmer_js_k2",
    "kmer_js_k3",
    "kmer_js_k6",
    "length_w1",
    "uniqueness",
    "copy_rate",
    "novelty",
]


def data_dir() -> Path:
    return Path(os.environ.get("BIOGAN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _peptides(lines: list[str]) -> list[str]:
    return [s for s in (x.strip() for x in lines) if s and set(s) <= set(ALPHABETS["protein"])]


def load(name: str, root: Path) -> tuple[SequenceSet, SequenceSet | None] | None:
    """The data set (and MDH's provided held-out set); ``None`` when its folder is absent."""
    if name == "amp":
        path = root / "fbgan_amp" / "AMP_dataset_translated_peptides.tsv"
        if not path.exists():
            return None
        table = pd.read_csv(path, sep="\t", header=None, names=["peptide", "label"])
        return SequenceSet(_peptides(table.loc[table.label.astype(str) == "1", "peptide"]), "protein"), None
    if name == "uniprot":
        path = root / "fbgan_amp" / "dna_uniprot_under_50_reviewed_translated_peptides.txt"
        return (
            (SequenceSet(_peptides(path.read_text().split("\n")), "protein"), None) if path.exists() else None
        )
    if name == "splice":
        path = root / "uci_splice_junctions" / "splice.csv"
        if not path.exists():
            return None
        table = pd.read_csv(path, skipinitialspace=True).rename(columns=str.strip)
        table = table.apply(lambda c: c.str.strip())
        table = table[table.Sequence.map(lambda s: set(s) <= set("ACGT"))]  # drops the 15 with N/D/R/S
        return SequenceSet(table.Sequence.tolist(), "dna", labels=table.Class.to_numpy()), None
    if name == "mdh":
        folder = root / "proteingan_mdh"
        if not folder.exists():
            return None
        with gzip.open(folder / "train_sequences_from_tfrecords.fasta.gz", "rt") as handle:
            lines = handle.read().split(">")[1:]
        seqs = ["".join(rec.split("\n")[1:]) for rec in lines]
        return SequenceSet(seqs, "protein"), read_fasta(folder / "val_sequences.fasta", alphabet="protein")
    raise ValueError(name)


def split(data: SequenceSet, share: float, seed: int) -> tuple[SequenceSet, SequenceSet]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(data))
    train, held = train_test_split(rows, test_size=share, random_state=seed, stratify=data.labels)
    return data.subset(np.sort(train)), data.subset(np.sort(held))


def label_counts(data: SequenceSet) -> dict[str, int] | None:
    if data.labels is None:
        return None
    values, counts = np.unique(data.labels, return_counts=True)
    return {str(v): int(k) for v, k in zip(values, counts, strict=True)}


def judge(held: SequenceSet, synth: SequenceSet, train: SequenceSet, seed: int) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the copy alert is a row of the table here
        table = evaluate(held, synth, train=train, seed=seed)
    overall = table[table.scope == "overall"].set_index("metric")
    return {"value": overall["value"].to_dict(), "control": overall["control"].to_dict()}


def draw(model, held: SequenceSet, seed: int) -> SequenceSet:
    counts = label_counts(held)
    return model.sample(labels=counts, seed=seed) if counts else model.sample(len(held), seed=seed)


def fit_markov(train: SequenceSet, seed: int) -> tuple[SequenceSet, int, dict[int, float]]:
    """The best order by validation C2ST; returns the refit chain's samples later (the chain itself)."""
    fit_part, valid = split(train, 0.2, seed)
    scores = {}
    for order in range(6):
        chain = MarkovChain(order=order, seed=seed).fit(fit_part)
        scores[order] = judge(valid, draw(chain, valid, seed), fit_part, seed)["value"]["c2st_rf_auc"]
    best = min(scores, key=lambda k: abs(scores[k] - 0.5))
    return MarkovChain(order=best, seed=seed).fit(train), best, scores


def run_markov(train: SequenceSet, held: SequenceSet, seed: int):
    chain, order, scores = fit_markov(train, seed)
    return draw(chain, held, seed), {"order": order, "validation": scores}


def run_iid(train: SequenceSet, held: SequenceSet, seed: int):
    return IIDResidues(seed).fit(train).sample(len(held), seed=seed), {}


def run_gan(train: SequenceSet, held: SequenceSet, seed: int, seconds: float, feedback: bool):
    """SequenceGAN as the README calls it; with ``feedback``, then 5 rounds raising the net charge."""
    model = SequenceGAN(seed=seed).fit(train, max_seconds=seconds, progress=False)
    best = model.trainer.best
    synth = draw(model, held, seed)
    info = {"steps": model.trainer.step, "best_step": best["step"] if best else None}
    if feedback:
        start = time.perf_counter()
        info["feedback"] = model.fit_feedback(net_charge, rounds=5, steps_per_round=100, seed=seed)
        info["after_feedback"] = draw(model, held, seed)
        info["feedback_s"] = time.perf_counter() - start
    return synth, info


def net_charge(sequences: list[str]) -> list[float]:
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    return [ProteinAnalysis(s).charge_at_pH(7.0) for s in sequences]


def report_feedback(info: dict, held: SequenceSet, train: SequenceSet, synth: SequenceSet, seed: int) -> None:
    rounds, after = info.pop("feedback"), info.pop("after_feedback")
    before_c2st = judge(held, synth, train, seed)["value"]["c2st_rf_auc"]
    after_c2st = judge(held, after, train, seed)["value"]["c2st_rf_auc"]
    print(f"\n## feedback on amp: raise the net charge at pH 7 ({info.pop('feedback_s'):.0f} s)")
    print(rounds.round(3).to_string(index=False))
    real = float(np.mean(net_charge(held.sequences)))
    print(
        f"  held-out AMPs' mean net charge {real:.2f}; C2ST vs held-out AMPs before feedback "
        f"{before_c2st:.3f}, after {after_c2st:.3f}"
    )


ABLATION = {
    "defaults": {},
    "output=gumbel": {"output": "gumbel"},
    "output=softmax": {"output": "softmax"},
    "lr 5e-4 (the former default)": {"lr_generator": 5e-4, "lr_critic": 5e-4},
    "minibatch_std": {"minibatch_std": True},
    "channels=64, n_blocks=2": {"channels": 64, "n_blocks": 2},
    "gp_samples=None (the penalty on all 64 rows; the former default)": {"gp_samples": None},
}


def run_setting(train: SequenceSet, held: SequenceSet, seed: int, seconds: float, settings: dict):
    model = SequenceGAN(seed=seed, **settings).fit(train, max_seconds=seconds, progress=False)
    return draw(model, held, seed), {"steps": model.trainer.step}


def ablation(root: Path, seconds: float, seed: int) -> None:
    """SequenceGAN settings side by side on the AMP split, each with the same wall-clock budget."""
    loaded = load("amp", root)
    if loaded is None:
        print(f"amp: skipped ({root} lacks it)")
        return
    train, held = split(loaded[0], 0.2, seed)
    rows = []
    for name, settings in ABLATION.items():
        (synth, info), _, _ = measured(run_setting, train, held, seed, seconds, settings)
        found = judge(held, synth, train, seed)["value"]
        rows.append({"setting": name, **{m: found.get(m) for m in METRICS[:4]}, "steps": info["steps"]})
    print(f"\n## ablation on amp: {seconds:.0f} s each")
    print(pd.DataFrame(rows).set_index("setting").dropna(axis=1, how="all").round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="amp,uniprot,splice,mdh")
    parser.add_argument(
        "--seconds", type=float, default=600.0, help="SequenceGAN's max_seconds (README call)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-feedback", action="store_true")
    parser.add_argument("--ablation", action="store_true", help="Compare SequenceGAN settings on AMP")
    args = parser.parse_args()
    root = data_dir()
    print(f"# sequence benchmark -- {machine()} -- {utc_stamp()}")
    if args.ablation:
        ablation(root, args.seconds, args.seed)
        return
    for name in args.datasets.split(","):
        loaded = load(name, root)
        if loaded is None:
            print(f"\n## {name}: skipped ({root} lacks it; see ../shared/README.md)")
            continue
        data, provided = loaded
        train, held = split(data, 0.2, args.seed)
        print(
            f"\n## {name}: {len(train)} training / {len(held)} held-out {data.alphabet} sequences, "
            f"lengths {data.lengths.min()}-{data.lengths.max()}"
        )
        rows, notes = [], {}
        runs = {
            "i.i.d. residues": (run_iid, ()),
            "Markov (best k)": (run_markov, ()),
            "SequenceGAN": (run_gan, (args.seconds, name == "amp" and not args.no_feedback)),
        }
        control = None
        for method, (fn, extra) in runs.items():
            (synth, info), seconds, peak = measured(fn, train, held, args.seed, *extra)
            if "feedback" in info:
                seconds -= info["feedback_s"]  # the table's time is training and sampling only
                report_feedback(info, held, train, synth, args.seed)
            start = time.perf_counter()
            found = judge(held, synth, train, args.seed)
            control = found["control"]
            rows.append(
                {
                    "method": method,
                    **{m: found["value"].get(m) for m in METRICS},
                    "fit+sample s": seconds,
                    "peak MiB": peak,
                }
            )
            notes[method] = {**info, "judge s": round(time.perf_counter() - start, 1)}
            if method == "SequenceGAN" and provided is not None:
                notes["SequenceGAN"]["provided held-out C2ST"] = judge(provided, synth, train, args.seed)[
                    "value"
                ]["c2st_rf_auc"]
        rows.insert(0, {"method": "control (held-out vs train)", **{m: control.get(m) for m in METRICS}})
        table = pd.DataFrame(rows).set_index("method").dropna(axis=1, how="all")
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(table.round(3).to_string())
        for method, info in notes.items():
            print(f"  {method}: {info}")


if __name__ == "__main__":
    main()
