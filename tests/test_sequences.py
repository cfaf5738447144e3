"""Sequences: FASTA in and out, input errors, SequenceGAN fit/sample/save/load, feedback, peers, CLI."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from biogan.cli import app
from biogan.data.datasets import bacterial_proteins
from biogan.data.sequences import SequenceSet, decode, encode, read_fasta, write_fasta
from biogan.errors import InvalidDataError, UnknownLabelError
from biogan.metrics.sequences import classifier_features
from biogan.models import MarkovChain, SequenceGAN, load_model

TINY = {"channels": 16, "n_blocks": 1, "noise_dim": 16, "batch_size": 32, "n_critic": 2, "eval_every": 20}


@pytest.fixture(scope="module")
def proteins() -> SequenceSet:
    return bacterial_proteins(max_length=80)


def _write(path, text: str):
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------- FASTA
@pytest.mark.parametrize("name", ["x.fasta", "x.fa.gz"])
def test_fasta_round_trip_keeps_sequences_ids_and_labels(tmp_path, proteins, name):
    data = proteins.subset(range(40))
    data.labels = np.array(["amp", "other"] * 20)
    write_fasta(data, tmp_path / name)
    back = read_fasta(tmp_path / name, label_regex=r"label=(\S+)")
    assert back.sequences == data.sequences and back.ids == data.ids
    assert back.alphabet == "protein" and list(back.labels) == list(data.labels)
    if name.endswith(".gz"):
        with gzip.open(tmp_path / name, "rt") as handle:
            assert handle.read(1) == ">"


def test_alphabet_is_inferred_and_stop_codon_star_dropped(tmp_path):
    _write(tmp_path / "d.fa", ">a\nACGTACGT\n>b\nacgtt\n")
    assert read_fasta(tmp_path / "d.fa").alphabet == "dna"
    _write(tmp_path / "r.fa", ">a\nACGUACGU\n")
    assert read_fasta(tmp_path / "r.fa").alphabet == "rna"
    _write(tmp_path / "p.fa", ">a\nMKLV*\n>b\nMSTQ\n")
    assert read_fasta(tmp_path / "p.fa").sequences == ["MKLV", "MSTQ"]


def test_letters_outside_the_alphabet_name_the_characters_and_records(tmp_path):
    _write(tmp_path / "x.fa", ">ok\nACGT\n>bad1\nACNGT\n>bad2\nAC-GT\n")
    with pytest.raises(InvalidDataError, match=r"2 of 3 records.*'N'.*'-'.*bad1, bad2.*--drop-invalid"):
        read_fasta(tmp_path / "x.fa", alphabet="dna")
    kept = read_fasta(tmp_path / "x.fa", alphabet="dna", drop_invalid=True)
    assert kept.ids == ["ok"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("@r1\nACGT\n+\nIIII\n", "FASTQ"),
        ("ACGT\nACGT\n", "not FASTA"),
        (">a\n\n>b\nACGT\n", "no sequence.*a"),
        (">a\nACGT\n>a\nACGA\n", "IDs occur more than once.*a"),
    ],
)
def test_bad_fasta_files_get_one_clear_error(tmp_path, text, message):
    with pytest.raises(InvalidDataError, match=message):
        read_fasta(_write(tmp_path / "x.fa", text))


def test_long_sequences_are_refused_unless_truncation_is_asked(tmp_path):
    _write(tmp_path / "x.fa", ">a\nACGTACGTAC\n>b\nACG\n")
    with pytest.raises(InvalidDataError, match=r"1 of 2 sequences are longer than --max-length 5.*truncate"):
        read_fasta(tmp_path / "x.fa", max_length=5)
    assert read_fasta(tmp_path / "x.fa", max_length=5, truncate=True).sequences == ["ACGTA", "ACG"]


def test_label_regex_that_misses_a_header_is_refused(tmp_path):
    _write(tmp_path / "x.fa", ">a class=1\nACGT\n>b\nACGA\n")
    with pytest.raises(UnknownLabelError, match="1 of 2 headers"):
        read_fasta(tmp_path / "x.fa", label_regex=r"class=(\d)")


def test_tokens_round_trip_with_padding():
    seqs = ["ACGT", "A", "GGG"]
    tokens = encode(seqs, "dna", 6)
    assert tokens.shape == (3, 6) and tokens[1, 1:].sum() == 0
    assert decode(tokens, "dna") == seqs


# ---------------------------------------------------------------------------------------- model
def test_fit_sample_save_load_is_reproducible(tmp_path, proteins):
    model = SequenceGAN(seed=0, **TINY).fit(proteins, max_steps=15, progress=False)
    a = model.sample(50, seed=3)
    assert a.sequences == model.sample(50, seed=3).sequences
    assert a.alphabet == "protein" and len(a) == 50
    assert all(proteins.lengths.min() <= len(s) <= proteins.lengths.max() for s in a.sequences)
    assert set("".join(a.sequences)) <= set("ACDEFGHIKLMNPQRSTVWY")
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, SequenceGAN) and again.sample(50, seed=3).sequences == a.sequences
    twin = SequenceGAN(seed=0, **TINY).fit(proteins, max_steps=15, progress=False)
    assert twin.sample(50, seed=3).sequences == a.sequences  # same seed, same model on CPU


def test_resume_ends_in_the_weights_of_an_uninterrupted_run(tmp_path, proteins):
    whole = SequenceGAN(seed=1, **TINY).fit(proteins, max_steps=30, progress=False)
    SequenceGAN(seed=1, **TINY).fit(proteins, max_steps=15, checkpoint_dir=tmp_path, progress=False)
    resumed = SequenceGAN(seed=1, **TINY).fit(
        proteins, max_steps=30, checkpoint_dir=tmp_path, resume=True, progress=False
    )
    assert resumed.trainer.step == 30
    for (name, a), b in zip(
        whole.problem.state_dict().items(), resumed.problem.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_conditional_sampling_returns_the_requested_labels(proteins):
    data = proteins.subset(range(120))
    data.labels = np.where(np.arange(120) % 3 == 0, "rare", "common")
    model = SequenceGAN(seed=0, **TINY).fit(data, max_steps=10, progress=False)
    out = model.sample(labels={"rare": 7, "common": 3})
    assert sorted(out.labels.tolist()) == ["common"] * 3 + ["rare"] * 7
    with pytest.raises(UnknownLabelError, match="never saw"):
        model.sample(labels={"nope": 2})


def test_early_stopping_keeps_the_best_validated_step(proteins):
    """A learning rate far too high makes the run degrade: training stops within the patience window and
    the kept weights are those of the best validation score, not the last ones."""
    model = SequenceGAN(seed=0, **{**TINY, "lr_generator": 0.05, "lr_critic": 0.05, "patience": 2})
    model.fit(proteins, max_steps=2000, progress=False)
    trainer = model.trainer
    scores = model.history.dropna(subset=["validation_score"])
    assert trainer.step < 2000  # stopped early
    assert trainer.step - trainer.best["step"] == 2 * TINY["eval_every"]
    # The kept score is the lowest of every evaluation; the untrained start (step 0, scored but without a
    # history row) competes too, and with so high a learning rate it sometimes wins.
    assert trainer.best["score"] <= scores.validation_score.min() + 1e-6
    if trainer.best["step"] > 0:
        assert trainer.best["score"] == pytest.approx(scores.validation_score.min())


def test_minibatch_std_critic_sees_how_varied_a_batch_is():
    from biogan.nn.sequences import SequenceCritic

    torch.manual_seed(0)
    tokens = torch.randint(1, 21, (8, 12))
    varied = torch.nn.functional.one_hot(tokens, 21).float()
    collapsed = varied[:1].expand(8, -1, -1)
    y = torch.zeros(8, dtype=torch.long)
    for spread, differs in ((True, True), (False, False)):
        critic = SequenceCritic(12, 21, 1, channels=8, n_blocks=1, minibatch_std=spread)
        in_collapsed = critic(collapsed, y)[0]  # the same first sequence in a collapsed batch
        assert (not torch.allclose(critic(varied, y)[0], in_collapsed)) == differs


def test_feedback_raises_a_simple_score(proteins):
    def lysine_share(seqs):
        return [s.count("K") / len(s) for s in seqs]

    model = SequenceGAN(seed=0, **TINY).fit(proteins, max_steps=60, progress=False)
    rounds = model.fit_feedback(lysine_share, rounds=4, n_per_round=128, steps_per_round=40, top_share=0.5)
    assert len(rounds) == 5 and rounds.replaced.iloc[:4].gt(0).all()
    assert rounds.training_mean_score.iloc[3] > rounds.training_mean_score.iloc[0]
    assert rounds.mean_score.iloc[-1] > rounds.mean_score.iloc[0]


def test_feedback_continues_from_the_best_validated_weights(proteins):
    model = SequenceGAN(seed=0, **TINY).fit(proteins, max_steps=40, progress=False)
    best = {k: v.clone() for k, v in model.trainer.best_state().items()}
    model.config.train.eval_every = 0  # 20 more steps that cannot replace the best weights
    model.fit(proteins, max_steps=60, progress=False)
    generator = model.problem.generator
    assert any(not torch.equal(p, best[k]) for k, p in generator.state_dict().items())
    model.trainer.restart_from_best()
    for module in (generator, model.trainer.ema):
        assert all(torch.equal(p, best[k]) for k, p in module.state_dict().items())


def test_feedback_accepts_a_classifier_on_kmer_features(proteins):
    from sklearn.linear_model import LogisticRegression

    seqs = proteins.sequences
    y = np.array([s.count("K") > s.count("E") for s in seqs])
    clf = LogisticRegression(max_iter=500).fit(classifier_features(seqs, "protein"), y)
    model = SequenceGAN(seed=0, **TINY).fit(proteins, max_steps=20, progress=False)
    rounds = model.fit_feedback(clf, rounds=1, n_per_round=64, steps_per_round=5)
    assert rounds.mean_score.between(0, 1).all()


def test_wrong_inputs_are_refused_clearly(proteins):
    with pytest.raises(InvalidDataError, match="expects a SequenceSet"):
        SequenceGAN().fit(["ACGT"] * 20)
    with pytest.raises(InvalidDataError, match="for dna sequences but the data are protein"):
        SequenceGAN(alphabet="dna").fit(proteins, max_steps=1)
    with pytest.raises(InvalidDataError, match="more than max_length 10"):
        SequenceGAN().fit(proteins, max_length=10, max_steps=1)


def test_markov_peer_picks_an_order_and_samples_labels(proteins):
    data = proteins.subset(range(len(proteins)))
    data.labels = np.where(np.arange(len(data)) % 2 == 0, "a", "b")
    chain = MarkovChain(orders=(0, 1, 2)).fit(data)
    assert chain.order in (0, 1, 2) and set(chain.scores) == {0, 1, 2}
    out = chain.sample(labels={"a": 5, "b": 5}, seed=1)
    assert sorted(out.labels.tolist()) == ["a"] * 5 + ["b"] * 5
    assert out.sequences == chain.sample(labels={"a": 5, "b": 5}, seed=1).sequences


# ---------------------------------------------------------------------------------------- CLI
def test_cli_trains_samples_and_writes_fasta(tmp_path, proteins):
    write_fasta(proteins, tmp_path / "train.fasta")
    settings = [
        f"--set={k}={v}" for k, v in TINY.items() if k not in ("batch_size", "n_critic", "eval_every")
    ]
    settings += ["--set=train.batch_size=32", "--set=train.n_critic=2"]
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "sequence",
            str(tmp_path / "train.fasta"),
            "--out",
            str(tmp_path / "m"),
            "--max-steps",
            "20",
            *settings,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "30", "-o", str(tmp_path / "gen.fa")])
    assert result.exit_code == 0, result.output
    generated = read_fasta(tmp_path / "gen.fa")
    assert len(generated) == 30 and generated.alphabet == "protein"
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "3", "-o", str(tmp_path / "gen.csv")])
    assert result.exit_code == 2 and ".fasta" in result.output


def test_cli_bad_fasta_is_one_line_error(tmp_path):
    _write(tmp_path / "x.fa", ">a\nACNGT\n" + "".join(f">s{i}\nACGTACGT\n" for i in range(20)))
    result = CliRunner().invoke(
        app, ["train", "sequence", str(tmp_path / "x.fa"), "--alphabet", "dna", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "outside the dna alphabet" in result.output and "Traceback" not in result.output
