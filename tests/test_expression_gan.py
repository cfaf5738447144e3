"""ExpressionGAN: training, sampling, persistence, resume and errors on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY

import biogan
from biogan.errors import (
    CheckpointError,
    GeneMismatchError,
    InvalidDataError,
    NotFittedError,
    OutputPathError,
    UnknownLabelError,
)


def _weights(model):
    return {k: v.clone() for k, v in model.problem.state_dict().items()}


def test_sample_returns_integer_counts_with_labels_and_genes(tiny_model, small):
    synth = tiny_model.sample(labels={"CD14+ Monocyte": 7, "CD34+": 3}, seed=0)
    X = synth.X.toarray()
    assert synth.shape == (10, small.n_vars)
    assert list(synth.var_names) == list(small.var_names)
    assert X.min() >= 0 and np.all(np.rint(X) == X)
    np.testing.assert_array_equal(synth.layers["counts"].toarray(), X)
    counts = synth.obs["cell_type"].value_counts()
    assert counts[counts > 0].to_dict() == {"CD14+ Monocyte": 7, "CD34+": 3}


def test_library_sizes_vary_per_type_like_the_data(small):
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(max_steps=2, progress=False)
    synth = model.sample(labels={"Dendritic": 200, "CD19+ B": 200}, seed=0)
    lib = np.asarray(synth.X.sum(1)).ravel()
    types = synth.obs["cell_type"].to_numpy()
    real_lib = np.asarray(small.X.sum(1)).ravel()
    real_types = small.obs["cell_type"].to_numpy()
    for t in ("Dendritic", "CD19+ B"):
        real_med = np.median(real_lib[real_types == t])
        assert abs(np.median(lib[types == t]) / real_med - 1) < 0.25
        assert np.std(np.log(lib[types == t])) > 0.1  # not a fixed library size (scGAN's flaw)


def test_sample_n_follows_training_proportions(tiny_model):
    synth = tiny_model.sample(n=300, seed=0)
    assert synth.n_obs == 300
    assert synth.obs["cell_type"].value_counts().idxmax() == "Dendritic"


def test_same_seed_same_weights_and_samples(small):
    a = biogan.ExpressionGAN(small, seed=3, device="cpu", **TINY).fit(max_steps=3, progress=False)
    b = biogan.ExpressionGAN(small, seed=3, device="cpu", **TINY).fit(max_steps=3, progress=False)
    for key, value in _weights(a).items():
        torch.testing.assert_close(value, _weights(b)[key], rtol=0, atol=0)
    np.testing.assert_array_equal(a.sample(n=50, seed=1).X.toarray(), b.sample(n=50, seed=1).X.toarray())
    assert not np.array_equal(a.sample(n=50, seed=1).X.toarray(), a.sample(n=50, seed=2).X.toarray())


def test_resume_ends_in_the_same_weights_as_an_uninterrupted_run(small, tmp_path):
    full = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    full.fit(max_steps=6, progress=False)
    first = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    first.fit(max_steps=3, checkpoint_dir=tmp_path, progress=False)  # "interrupted" after 3 steps
    resumed = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    resumed.fit(max_steps=6, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert resumed.trainer.step == 6
    for key, value in _weights(full).items():
        torch.testing.assert_close(value, _weights(resumed)[key], rtol=0, atol=0)
    for key, value in full.trainer.ema.state_dict().items():
        torch.testing.assert_close(value, resumed.trainer.ema.state_dict()[key], rtol=0, atol=0)
    assert resumed.history.equals(full.history.assign(elapsed_s=resumed.history["elapsed_s"]))
    assert resumed.trainer.best["step"] == full.trainer.best["step"]


def test_history_logs_losses_and_collapse_signal(tiny_model):
    history = tiny_model.history
    for column in ("critic_loss", "generator_loss", "gradient_penalty", "wasserstein", "diversity_ratio"):
        assert column in history and history[column].notna().all()
    assert history["step"].tolist() == [2.0, 4.0]


def test_save_load_round_trip(tiny_model, small, tmp_path):
    tiny_model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "model.pt", "history.csv"}
    loaded = biogan.ExpressionGAN.load(tmp_path / "m", adata=small, device="cpu")
    np.testing.assert_array_equal(
        loaded.sample(n=40, seed=5).X.toarray(), tiny_model.sample(n=40, seed=5).X.toarray()
    )
    assert loaded.config == tiny_model.config
    assert len(loaded.history) == len(tiny_model.history)


def test_load_rejects_a_different_gene_set(tiny_model, small, tmp_path):
    tiny_model.save(tmp_path / "m")
    with pytest.raises(GeneMismatchError, match="genes do not match"):
        biogan.ExpressionGAN.load(tmp_path / "m", adata=small[:, :50].copy())


def test_corrupt_and_truncated_checkpoints_get_clear_errors(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.pt is damaged"):  # the manifest notices first
        biogan.ExpressionGAN.load(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").unlink()  # an older folder: the file itself is checked
    with pytest.warns(UserWarning, match="no manifest"), pytest.raises(CheckpointError, match="truncated"):
        biogan.ExpressionGAN.load(tmp_path / "m")
    weights.write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match=r"model\.pt"):
        biogan.ExpressionGAN.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        biogan.ExpressionGAN.load(tmp_path / "m")
    with pytest.raises(CheckpointError, match="does not exist"):
        biogan.ExpressionGAN.load(tmp_path / "nowhere")


def test_resume_from_a_corrupt_checkpoint_fails_clearly(small, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00" * 10)
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    with pytest.raises(CheckpointError, match="checkpoint"):
        model.fit(max_steps=2, checkpoint_dir=tmp_path, resume=True, progress=False)


def test_sampling_errors(tiny_model, small):
    with pytest.raises(UnknownLabelError, match="never saw label"):
        tiny_model.sample(labels={"Neuron": 5})
    with pytest.raises(InvalidDataError):
        tiny_model.sample()
    with pytest.raises(NotFittedError):
        biogan.ExpressionGAN(small, device="cpu", **TINY).sample(n=5)


def test_save_to_an_unwritable_place(tiny_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError):
        tiny_model.save(blocker / "model")


def test_unconditional_model(small):
    adata = small.copy()
    biogan.ExpressionGAN.setup_anndata(adata, layer="counts")
    model = biogan.ExpressionGAN(adata, seed=0, device="cpu", **TINY).fit(max_steps=2, progress=False)
    assert model.sample(n=12).n_obs == 12


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="unknown loss"):
        biogan.ExpressionGANConfig(loss="wasserstein")
    with pytest.raises(biogan.errors.ConfigError, match=r"unknown setting n_critics \(did you mean"):
        biogan.ExpressionGAN(n_critics=3)


@pytest.mark.parametrize("loss", ["minimax", "hinge"])
def test_other_losses_and_spectral_norm_train(small, loss):
    model = biogan.ExpressionGAN(
        small, seed=0, device="cpu", loss=loss, gp_weight=0.0, spectral_norm=True, **TINY
    ).fit(max_steps=2, progress=False)
    assert np.isfinite(model.history["generator_loss"]).all()


def test_validation_cells_are_held_out_from_the_critic_and_are_the_reference(small):
    """A stratified share of the cells is never drawn for the critic; the validation score compares
    generated cells with exactly those (a label too small to give one cell stays whole in training)."""
    share = 0.25  # the default tenth of 200 cells would be too few to hold out (fewer than 20)
    problem = biogan.ExpressionGAN(small, seed=0, device="cpu", validation_share=share, **TINY).problem
    train = problem.train_rows
    held = np.setdiff1d(np.arange(small.n_obs), train)
    sizes = small.obs.cell_type.value_counts()
    assert len(held) == pytest.approx(share * sizes[sizes >= 1 / share].sum(), abs=len(sizes))
    for label in sizes[sizes < 1 / share].index:  # too small to lend a validation cell
        assert not (small.obs.cell_type.to_numpy()[held] == label).any()
    drawn = problem.make_sampler(0, 0, 1).next_index(5 * small.n_obs)
    assert set(drawn) == set(train)
    reference = (problem.monitor_x * problem.gene_std + problem.gene_mean).numpy()
    expected = biogan.data.preprocessing.log_normalize(small.layers["counts"][held])
    np.testing.assert_allclose(reference, expected, atol=1e-4)
    assert len(problem.monitor_z) == TINY["n_monitor"] > len(held)  # more generated cells than held out


def test_default_step_budget_follows_the_number_of_cells(small):
    """The warm-up and ramp plus 40 epochs of the critic's cells, rounded up to a validation step, at most
    20,000 steps; early stopping is on."""
    for batch, warmup, expected in ((32, 100, 388), (2, 0, 3000), (1, 9, 6018), (1, 8000, 20_000)):
        settings = {**TINY, "batch_size": batch, "generator_warmup": warmup, "validation_share": 0.25}
        model = biogan.ExpressionGAN(small, seed=0, device="cpu", **settings)
        assert len(model.problem.train_rows) == 150  # critic cells of 200
        assert model.default_max_steps() == expected
    assert biogan.ExpressionGANConfig().train.patience > 0
    with pytest.raises(NotFittedError):
        biogan.ExpressionGAN().default_max_steps()


def test_early_stopping_keeps_the_best_validated_step_of_a_degrading_run(small):
    """Learning rates far too high make the run degrade: it stops within the patience window and the
    sampler has the best validated weights, not the last ones."""
    settings = {**TINY, "lr_generator": 0.05, "lr_critic": 0.05, "patience": 3}
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **settings).fit(progress=False)
    trainer = model.trainer
    assert trainer.step < model.default_max_steps()
    assert trainer.step - trainer.best["step"] == 3 * TINY["eval_every"]
    scores = model.history.dropna(subset=["validation_score"]).validation_score
    assert trainer.best["score"] <= scores.min() + 1e-6
    kept = model._sampler.state_dict()
    for name, value in trainer.best["state"].items():
        torch.testing.assert_close(kept[name], value)


def test_generator_keeps_its_start_while_the_critic_warms_up(small):
    """With ``generator_warmup=w`` the generator's weights do not move for ``w`` steps (the critic's do),
    then its learning rate ramps up linearly to the configured one at ``2 w``."""
    settings = {**TINY, "generator_warmup": 4, "eval_every": 0}
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **settings)
    start = {k: v.clone() for k, v in model.problem.generator.state_dict().items()}
    critic = {k: v.clone() for k, v in model.problem.critic.state_dict().items()}
    model.fit(max_steps=4, progress=False)
    for name, value in model.problem.generator.state_dict().items():
        torch.testing.assert_close(value, start[name])
    assert any(not torch.equal(v, critic[k]) for k, v in model.problem.critic.state_dict().items())
    model.fit(max_steps=6, progress=False)  # continues: steps 4 and 5 have learning rates 0 and lr / 4
    assert any(not torch.equal(v, start[k]) for k, v in model.problem.generator.state_dict().items())
    trainer, lr = model.trainer, model.config.train.lr_generator
    for step, expected in ((0, 0.0), (4, 0.0), (6, lr / 2), (8, lr), (100, lr)):
        trainer.step = step
        assert trainer.generator_lr() == pytest.approx(expected)


def test_minibatch_spread_tells_a_collapsed_batch_from_a_varied_one(small):
    """The critic's minibatch feature is 0 for identical cells and positive for varied ones; a model with
    it trains and saves like any other."""
    from biogan.nn.critics import MinibatchStd

    spread = MinibatchStd(4)
    same = torch.ones(8, 5)
    varied = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(spread(same), torch.full((8, 1), 1e-4), atol=1e-5)
    assert (spread(varied) > 0.3).all()
    assert spread(varied[:7]).abs().max() == 0  # 7 cells: no group of 4 fits, the feature is off
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", minibatch_group=4, **TINY)
    model.fit(max_steps=3, progress=False)
    assert np.isfinite(model.history["critic_loss"]).all()
    assert model.problem.critic.head.in_features == TINY["critic_hidden"][-1] + 1
