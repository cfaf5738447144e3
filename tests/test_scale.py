"""Scale (issue 18): backed .h5ad and .zarr sources, block shuffling, bounded memory, streamed sampling,
the pre-run estimate and the out-of-memory guard."""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch
from conftest import TINY
from typer.testing import CliRunner

import biogan
from biogan.cli import app
from biogan.data import preprocessing, read_cells
from biogan.data.anndata import CountData, keep_variable_genes
from biogan.data.ondisk import BackedCells, OnDiskMatrix, write_h5ad_chunks
from biogan.data.samplers import BlockClassSampler, BlockShuffleSampler
from biogan.data.sources import ArraySource, BatchLoader
from biogan.errors import InvalidDataError


def _atlas(n_cells: int = 9000, n_genes: int = 40, seed: int = 0, depth: float = 0.25) -> ad.AnnData:
    """Negative-binomial counts of three cell types, with a per-type mean profile (CSR, float32)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n_cells)
    profiles = rng.gamma(0.6, 1.0, (3, n_genes)) * depth
    mean = profiles[labels] * rng.lognormal(0, 0.3, (n_cells, 1))
    counts = rng.negative_binomial(2, 2 / (2 + mean)).astype(np.float32)
    counts[np.arange(n_cells), rng.integers(0, n_genes, n_cells)] += 1  # no empty cells
    obs = pd.DataFrame({"cell_type": pd.Categorical(np.array(["B", "NK", "T"])[labels])})
    obs.index = [f"c{i}" for i in range(n_cells)]
    adata = ad.AnnData(
        X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])
    )
    adata.layers["counts"] = adata.X.copy()
    return adata


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same cells in memory, as a .h5ad and as a .zarr store."""
    folder = tmp_path_factory.mktemp("stores")
    adata = _atlas()
    adata.write_h5ad(folder / "atlas.h5ad")
    adata.write_zarr(folder / "atlas.zarr")
    return adata, folder / "atlas.h5ad", folder / "atlas.zarr"


def _batches(source: ArraySource, n: int, seed: int = 3) -> list[np.ndarray]:
    sampler = BlockShuffleSampler(np.arange(len(source)), 4096, 2, seed)
    loader = BatchLoader(source, sampler, 500, torch.device("cpu"), prefetch=4 if source.on_disk else 0)
    return [loader.next()["counts"].numpy() for _ in range(n)]


def test_backed_and_zarr_batches_equal_in_memory_batches(stores, tmp_path):
    adata, h5ad, zarr = stores
    memory = ArraySource(counts=adata.layers["counts"])
    dense = ad.AnnData(X=adata.X.toarray(), obs=adata.obs, var=adata.var)
    dense.layers["counts"] = dense.X.copy()
    dense.write_h5ad(tmp_path / "dense.h5ad")  # a dense matrix on disk is read in row blocks too
    for path in (h5ad, zarr, tmp_path / "dense.h5ad"):
        disk = ArraySource(counts=BackedCells(path).layers["counts"])
        assert disk.on_disk and not memory.on_disk
        for a, b in zip(_batches(memory, 40), _batches(disk, 40), strict=True):  # 2+ epochs, prefetched
            np.testing.assert_array_equal(a, b)


def test_block_shuffle_covers_every_row_once_per_epoch_and_splits_ranks():
    rows = np.arange(10_000)[::3]  # a training subset
    sampler = BlockShuffleSampler(rows, 1000, 3, seed=1)
    epoch = sampler.next_index(len(rows))
    assert sorted(epoch) == list(rows)
    assert not np.array_equal(epoch, np.sort(epoch))  # shuffled ...
    first = epoch[:300] // 1000
    assert 1 < len(np.unique(first)) <= 3  # ... within buffers of three blocks
    ranks = [BlockShuffleSampler(rows, 1000, 3, seed=1, rank=r, world_size=2).rows for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1]) and sorted([*ranks[0], *ranks[1]]) == list(rows)


def test_prefetching_loader_resumes_the_same_sequence(stores):
    _, h5ad, _ = stores
    source = ArraySource(counts=BackedCells(h5ad).X)

    def loader() -> BatchLoader:
        sampler = source.shuffle_sampler(np.arange(len(source)), 5)
        return BatchLoader(source, sampler, 700, torch.device("cpu"), prefetch=3)

    straight = loader()
    # A file whose blocks all fit in the cache is read once: by default nothing is read ahead.
    assert (
        straight.prefetch == 3 and BatchLoader(source, straight.sampler, 1, torch.device("cpu")).prefetch == 0
    )
    expected = [straight.next()["counts"] for _ in range(30)]
    first = loader()
    for _ in range(17):
        first.next()
    state = first.state_dict()  # taken while batches are read ahead
    resumed = loader()
    resumed.load_state_dict(state)
    for want in expected[17:]:
        torch.testing.assert_close(resumed.next()["counts"], want)


def test_streamed_statistics_equal_in_memory_ones(stores):
    adata, h5ad, _ = stores
    models = []
    for cells in (adata.copy(), BackedCells(h5ad)):
        biogan.ExpressionGAN.setup_anndata(cells, layer="counts", labels_key="cell_type")
        models.append(biogan.ExpressionGAN(cells, seed=0, **TINY))
    memory, disk = (m.problem.state_dict() for m in models)
    assert memory.keys() == disk.keys()
    for key in memory:
        torch.testing.assert_close(memory[key], disk[key], msg=key)
    assert models[0].zero_fraction == pytest.approx(models[1].zero_fraction)


def test_training_on_a_backed_file_never_densifies_the_matrix(tmp_path, monkeypatch):
    """30k cells x 400 genes: 48 MB dense (float32), about 3 MB as CSR on disk. Set-up (validation,
    statistics, sub-clusters) and training together stay far below the dense size."""
    adata = _atlas(30_000, 400, seed=2, depth=0.02)
    adata.write_h5ad(tmp_path / "big.h5ad")
    dense_bytes = 30_000 * 400 * 4
    monkeypatch.setattr(preprocessing, "DENSE_BLOCK_BYTES", 2**20)  # the budgets, scaled to a test size
    monkeypatch.setattr(preprocessing, "PCA_FIT_BYTES", 2**22)

    def train() -> biogan.ExpressionGAN:
        cells = read_cells(tmp_path / "big.h5ad", backed=True)
        biogan.ExpressionGAN.setup_anndata(cells, layer="counts", labels_key="cell_type")
        return biogan.ExpressionGAN(cells, seed=0, **{**TINY, "batch_size": 256}).fit(
            max_steps=6, progress=False
        )

    train()  # once untraced: the modules training imports are not what this test is about
    tracemalloc.start()
    try:
        model = train()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 4, f"peak {peak / 1e6:.1f} MB against {dense_bytes / 1e6:.0f} MB dense"
    assert model.sample(50).shape == (50, 400)


def test_streamed_sample_file_is_valid_and_equals_sample(small, tmp_path):
    model = biogan.ExpressionGAN(small, seed=0, **TINY).fit(max_steps=2, progress=False)
    written, problem = model.write_samples(tmp_path / "s.h5ad", n=1234, seed=4, batch_size=100)
    assert written == "1234 cells x 100 genes" and problem is None
    back = sc.read_h5ad(tmp_path / "s.h5ad")
    direct = model.sample(1234, seed=4, batch_size=100)
    assert sp.issparse(back.X) and back.X.dtype == np.float32
    assert all(np.isfinite(m.data).all() for m in (back.X, *back.layers.values()))
    assert (back.X != direct.X).nnz == 0 and (back.layers["counts"] != direct.X).nnz == 0
    pd.testing.assert_frame_equal(back.obs, direct.obs)
    assert back.uns["biogan"]["seed"] == 4 and list(back.var_names) == list(direct.var_names)


def test_chunk_writer_refuses_a_short_stream_and_leaves_nothing(tmp_path):
    obs = pd.DataFrame(index=[f"c{i}" for i in range(10)])
    chunks = iter([sp.csr_matrix(np.ones((4, 3), dtype=np.float32))])
    with pytest.raises(InvalidDataError, match="wrote 4 cells but obs has 10"):
        write_h5ad_chunks(tmp_path / "x.h5ad", chunks, obs, ["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


def test_pre_run_estimate_is_printed(small, capsys):
    biogan.ExpressionGAN(small, seed=0, **TINY).fit(max_steps=14, progress=True)
    out = capsys.readouterr().out
    assert "x 100 in memory" in out and "batch 32" in out and "device cpu" in out
    assert "steps/s" in out and "cells/s" in out and "for the remaining 2 steps" in out


def test_impossible_step_is_refused_before_any_work(small):
    model = biogan.ExpressionGAN(small, seed=0, **{**TINY, "batch_size": 10**10})
    with pytest.raises(InvalidDataError, match=r"training step .* smaller batch .*--n-top-genes.*--backed"):
        model.fit(max_steps=1, progress=False)
    assert model.trainer.step == 0


def test_reading_a_store_too_large_for_memory_suggests_backed(stores, monkeypatch):
    _, h5ad, _ = stores
    monkeypatch.setattr("biogan.data.validation.available_memory", lambda: 10_000)
    with pytest.raises(InvalidDataError, match="--backed"):
        read_cells(h5ad)
    assert read_cells(h5ad, backed=True).n_obs == 9000  # backed reads only obs and var


def test_variable_genes_follow_seurat_and_apply_on_the_fly(stores):
    adata, h5ad, _ = stores
    pbmc = biogan.datasets.pbmc68k_counts()
    mine = set(preprocessing.highly_variable_genes(pbmc.layers["counts"], 200))
    norm = pbmc.copy()
    norm.X = norm.layers["counts"].copy()
    sc.pp.normalize_total(norm, target_sum=1e4)
    sc.pp.log1p(norm)
    sc.pp.highly_variable_genes(norm, n_top_genes=200, flavor="seurat")
    assert len(mine & set(np.flatnonzero(norm.var["highly_variable"]))) >= 190
    backed = keep_variable_genes(BackedCells(h5ad), 10, "counts")
    memory = keep_variable_genes(adata, 10, "counts")
    assert list(backed.var_names) == list(memory.var_names)
    rows = np.array([5, 4000, 8999, 5])
    np.testing.assert_array_equal(backed.layers["counts"].take(rows), memory.layers["counts"][rows].toarray())


def test_on_disk_checks_count_the_whole_matrix(tmp_path):
    adata = _atlas(9000, 20)
    adata.X = adata.X.copy()
    adata.X.data[::1000] = 0.5
    adata.write_h5ad(tmp_path / "bad.h5ad")
    cells = BackedCells(tmp_path / "bad.h5ad")
    with pytest.raises(InvalidDataError, match="non-integer values"):
        biogan.ExpressionGAN.setup_anndata(cells)
    adata.X = sp.csc_matrix(adata.layers["counts"])
    adata.write_h5ad(tmp_path / "csc.h5ad")
    with pytest.raises(InvalidDataError, match=r"CSC.*tocsr"):
        BackedCells(tmp_path / "csc.h5ad")


def test_cli_trains_backed_zarr_with_gene_selection_and_streams_samples(tmp_path):
    zarr = tmp_path / "atlas.zarr"
    _atlas(3000, 40, depth=2.0).write_zarr(zarr)
    runner = CliRunner()
    train = ["train", "expression", str(zarr), "--backed", "--labels-key", "cell_type", "--n-top-genes", "15"]
    train += ["--out", str(tmp_path / "m"), "--max-steps", "3", "--set", "train.batch_size=64"]
    train += ["--set", "generator_hidden=[16]", "--set", "critic_hidden=[16]", "--set", "noise_dim=4"]
    done = runner.invoke(app, train)
    assert done.exit_code == 0, done.output
    assert "on disk (atlas.zarr" in done.output
    done = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "5000", "-o", str(tmp_path / "s.h5ad")])
    assert done.exit_code == 0, done.output
    assert sc.read_h5ad(tmp_path / "s.h5ad").shape == (5000, 15)
    bad = runner.invoke(
        app, ["train", "expression", str(tmp_path / "x.csv"), "--backed", "--out", str(tmp_path / "n")]
    )
    assert bad.exit_code != 0


def test_on_disk_matrix_pickles_without_its_handle(stores):
    import pickle

    _, h5ad, _ = stores
    matrix = OnDiskMatrix(h5ad, "X")
    matrix.take(np.array([1, 2]))
    again = pickle.loads(pickle.dumps(matrix))
    np.testing.assert_array_equal(again.take(np.array([7])), matrix.take(np.array([7])))
    data = CountData.from_anndata(BackedCells(h5ad), None, "cell_type")
    assert data.n_cells == 9000 and data.rows(np.array([3])).shape == (1, 40)


def _mmd_to_held(model: biogan.ExpressionGAN, held: ad.AnnData) -> float:
    from biogan.metrics.two_sample import joint_pca, mmd_rbf

    synth = model.sample(labels=held.obs["cell_type"].astype(str).value_counts().to_dict(), seed=0)
    a, b = joint_pca(biogan.data.log_normalize(held.X), biogan.data.log_normalize(synth.X), 10)
    return mmd_rbf(a, b)


def test_bf16_autocast_and_compile_train_to_fp32_eager_quality(pbmc):
    """Same seed, same steps: bf16 autocast and torch.compile land as close to fp32 eager as two fp32
    seeds are to each other (plus a quarter of the way back to the untrained start)."""
    train, held = biogan.data.stratified_split(pbmc, "cell_type", test_size=0.5, seed=1)
    train, held = train[:, :100].copy(), held[:, :100].copy()
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key="cell_type")
    settings = {**TINY, "eval_every": 0, "validation_share": 0.0}  # no validation: every cell trains

    def quality(steps: int = 80, seed: int = 0, **options) -> float:
        model = biogan.ExpressionGAN(train, seed=seed, device="cpu", **settings, **options)
        return _mmd_to_held(model.fit(max_steps=steps, progress=False), held)

    fp32 = [quality(seed=s) for s in (0, 1)]
    untrained = quality(steps=1)
    allowed = 3 * abs(fp32[0] - fp32[1]) + 0.25 * abs(untrained - np.mean(fp32))
    for options in ({"precision": "bf16"}, {"compile": True}):
        assert abs(quality(**options) - np.mean(fp32)) <= allowed, options
    with pytest.raises(ValueError, match="precision must be one of"):
        biogan.ExpressionGAN(train, precision="fp16")


def test_class_stratified_sampling_on_disk_balances_and_resumes():
    codes = np.zeros(20_000, dtype=np.int64)
    codes[::50] = 1  # a 2 % class spread over the whole file
    codes[12_345:12_350] = 2  # five rows in one block
    sampler = BlockClassSampler(codes, 3, "uniform", seed=2, block_rows=1000, window_blocks=2)
    drawn = np.concatenate([sampler.next_index(300) for _ in range(100)])
    shares = np.bincount(codes[drawn], minlength=3) / len(drawn)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.02)  # balanced, rare classes included
    ones = drawn[codes[drawn] == 1]
    assert len(np.unique(ones[:400])) == 400  # without replacement within a pass ...
    assert len(np.unique(ones[:40] // 1000)) == 2  # ... a window of two blocks (20 rows each) at a time
    state = sampler.state_dict()
    expected = [sampler.next_index(64) for _ in range(5)]
    again = BlockClassSampler(codes, 3, "uniform", seed=2, block_rows=1000, window_blocks=2)
    again.load_state_dict(state)
    for want in expected:
        np.testing.assert_array_equal(again.next_index(64), want)
    proportional = BlockClassSampler(codes, 3, "proportional", seed=2, block_rows=1000)
    assert np.mean(codes[proportional.next_index(20_000)] == 0) == pytest.approx(0.98, abs=0.01)
    ranks = [BlockClassSampler(codes, 3, seed=2, rank=r, world_size=2, block_rows=1000) for r in (0, 1)]
    assert not set(ranks[0].members[1]) & set(ranks[1].members[1])
    assert all(len(r.members[2]) == 5 for r in ranks)  # the tiny class stays trainable on both ranks


def test_sources_pick_the_class_sampler_for_where_rows_are(stores):
    from biogan.data.samplers import ClassSampler

    adata, h5ad, _ = stores
    codes = adata.obs["cell_type"].cat.codes.to_numpy()
    disk = ArraySource(counts=BackedCells(h5ad).X)
    sampler = disk.class_sampler(codes, 3, "uniform", seed=0)
    assert isinstance(sampler, BlockClassSampler) and disk.disk.cache_blocks >= 3 * 2
    assert isinstance(ArraySource(counts=adata.X).class_sampler(codes, 3), ClassSampler)
    batch = BatchLoader(disk, sampler, 300, torch.device("cpu")).next()["counts"].numpy()
    assert batch.shape == (300, 40) and batch.sum() > 0


def test_vae_trains_from_a_backed_store_on_its_training_cells_only(stores):
    _, h5ad, _ = stores
    cells = BackedCells(h5ad)
    biogan.ExpressionVAE.setup_anndata(cells, layer="counts", labels_key="cell_type")
    vae = biogan.ExpressionVAE(cells, seed=0, batch_size=256, log_every=2, eval_every=2)
    vae.fit(max_steps=4, progress=False)
    sampler = vae.trainer.loader.sampler
    assert isinstance(sampler, BlockShuffleSampler)
    assert not set(sampler.rows) & set(vae.problem.val_idx)  # held-out cells are never trained on
    assert vae.sample(20).shape == (20, 40)
