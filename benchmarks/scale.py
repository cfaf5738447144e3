"""Scale (issue 18): ExpressionGAN on 100k and 1M cells in memory and backed, sampling 1M cells to disk, DDP.

Data: synthetic atlases resampled from ``pbmc3k_seurat/pbmc3k_seurat_labels.h5ad`` (2,638 PBMCs, raw UMI
counts, 9 Seurat-tutorial types; see its SOURCE.md). The 2,000 most variable genes are chosen on all 2,638
cells (:func:`biogan.data.preprocessing.highly_variable_genes`, Seurat's dispersion rule). Each synthetic
cell is a real cell drawn uniformly with replacement (seed 0) whose counts are binomially thinned with a
keep probability drawn per cell from U(0.5, 1) (every UMI kept independently with that probability; a cell
left without counts keeps its original counts), labelled with the real cell's type. Files are written as
float32 CSR ``.h5ad`` (``.X`` only, uncompressed) in 50k-cell chunks under ``--work`` and reused.

Every measurement runs in a fresh process (``python benchmarks/scale.py --worker ...``, torch's default
threads) that reports its own peak RSS (``ru_maxrss``, interpreter and imports included):

* **train**: ``read_cells(path, backed=...)``, ``setup_anndata``, ``ExpressionGAN(cells, seed=0)`` (the
  set-up passes: validation, library sizes, PCA and sub-clusters, dispersions, profiles, moments; its time
  is "set-up"), then ``fit()`` with the defaults for ``--train-seconds`` of wall time: steps/s and cells/s
  (rows the loader handed out: ``n_critic + 1`` batches a step) after the first 10 steps.
* **epoch**: one full pass of the training data path alone (sampler + source, batch 128) over every cell:
  seconds per epoch against the number of cells.
* **sample**: the 100k-cell backed model writes ``--sample-cells`` cells to ``.h5ad`` through
  ``model.write_samples`` (what ``biogan sample`` runs): cells/s and peak RSS.
* **ddp**: ``torchrun --nproc_per_node=2 -m biogan train expression ... --backed --device cpu`` (gloo) on
  the 100k file for ``--train-seconds``; per-rank cells/s from the steps it reports.
* **quality**: the bundled 700-cell pbmc68k split 350/350 (``stratified_split``, seed 0); ``ExpressionGAN``
  with its defaults trained in memory and from a backed ``.h5ad`` of the same training cells, for each of
  ``--quality-seeds`` (0 and 1 unless given); mean and sd per mode over the seeds;
  judged by :func:`biogan.evaluate` against the held-out half (C2ST AUROC and MMD beside the real-vs-real
  control).
* **gpu** (skipped without CUDA): in one process on the 100k atlas, ExpressionGAN's defaults on CUDA in fp32,
  bf16, ``torch.compile`` and both, backed, at batch 1024 and 4096, and on the CPU: set-up, first 10 steps
  (compilation), steps/s, cells/s, peak GPU memory and host-device syncs per step (CUDA sync debug mode);
  then pbmc68k quality in fp32, bf16 and bf16 + compile. One JSON line per row in ``--gpu-log`` (kept when a
  leased machine's time runs out; ``--render-gpu-log`` prints its tables).

    python benchmarks/scale.py [--sizes 100000,1000000] [--train-seconds 90] [--sample-cells 1000000]
                               [--parts train,epoch,sample,ddp,quality,gpu]
    python benchmarks/scale.py --quick      # 20k cells, short runs: a smoke test of the script only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, utc_stamp

SOURCE = "pbmc3k_seurat/pbmc3k_seurat_labels.h5ad"
N_GENES = 2000
CHUNK = 50_000
PARTS = ("train", "epoch", "sample", "ddp", "quality", "gpu")


def data_dir(given: str | None) -> Path:
    return Path(
        given or os.environ.get("BIOGAN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------------- data
def build_atlas(source: Path, n_cells: int, path: Path, seed: int = 0) -> Path:
    """Resample ``n_cells`` thinned copies of pbmc3k cells over its 2,000 most variable genes (see above)."""
    if path.exists():
        return path
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    from biogan.data.ondisk import write_h5ad_chunks
    from biogan.data.preprocessing import highly_variable_genes

    real = ad.read_h5ad(source)
    X = sp.csr_matrix(real.X, dtype=np.float32)
    genes = highly_variable_genes(X, N_GENES)
    X = X[:, genes]
    labels = real.obs["cell_type"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, X.shape[0], n_cells)
    keep = rng.uniform(0.5, 1.0, n_cells)

    def chunks():
        for start in range(0, n_cells, CHUNK):
            rows = X[picks[start : start + CHUNK]].tocsr()
            p = np.repeat(keep[start : start + CHUNK], np.diff(rows.indptr))
            thinned = rows.copy()
            thinned.data = rng.binomial(rows.data.astype(np.int64), p).astype(np.float32)
            empty = np.asarray(thinned.sum(1)).ravel() == 0
            if empty.any():  # keep the original counts of a cell thinned to nothing
                thinned = sp.vstack([thinned[~empty], rows[empty]]).tocsr()[_restore_order(empty)]
            thinned.eliminate_zeros()
            yield thinned

    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(labels[picks])}, index=pd.Index([f"cell_{i}" for i in range(n_cells)])
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h5ad_chunks(path, chunks(), obs, list(real.var_names[genes]), counts_layer=None)
    return path


def _restore_order(moved_last: np.ndarray) -> np.ndarray:
    """Index putting rows back after those flagged in ``moved_last`` were stacked after the others."""
    order = np.concatenate([np.flatnonzero(~moved_last), np.flatnonzero(moved_last)])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse


# ---------------------------------------------------------------------- workers (fresh processes)
def work_train(path: str, backed: bool, seconds: float, save: str | None) -> dict:
    import biogan
    from biogan.data import read_cells

    start = time.perf_counter()
    cells = read_cells(path, backed=backed)
    biogan.ExpressionGAN.setup_anndata(cells, labels_key="cell_type")
    model = biogan.ExpressionGAN(cells, seed=0)
    setup = time.perf_counter() - start
    rates = timed_fit(model, seconds)
    if save:
        model.save(save)
    return {"setup_s": setup, "steps_per_s": rates["steps_per_s"], "cells_per_s": rates["cells_per_s"],
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def timed_fit(model, seconds: float) -> dict:
    """Train an untrained ``model``: 10 warm-up steps (compilation included; excluded from the rates),
    then ``fit()`` with its defaults for ``seconds`` more: steps/s and cells/s (rows the loader handed
    out)."""
    start = time.perf_counter()
    model.fit(max_steps=10, progress=False)
    first = time.perf_counter() - start
    served, t0, s0 = model.trainer.loader.rows_served, time.perf_counter(), model.trainer.step
    model.fit(max_steps=model.default_max_steps(), max_seconds=first + seconds, progress=False)
    elapsed = time.perf_counter() - t0
    return {
        "first_10_steps_s": first,
        "steps_per_s": (model.trainer.step - s0) / elapsed,
        "cells_per_s": (model.trainer.loader.rows_served - served) / elapsed,
    }


def work_epoch(path: str, backed: bool) -> dict:
    import torch

    from biogan.data import read_cells
    from biogan.data.anndata import CountData
    from biogan.data.sources import ArraySource, BatchLoader

    cells = read_cells(path, backed=backed)
    data = CountData.from_anndata(cells, None, "cell_type")
    source = ArraySource(counts=data.X)
    sampler = source.shuffle_sampler(np.arange(data.n_cells), seed=0)
    loader = BatchLoader(source, sampler, 128, torch.device("cpu"))
    start = time.perf_counter()
    for _ in range(-(-data.n_cells // 128)):
        loader.next()
    seconds = time.perf_counter() - start
    return {"epoch_s": seconds, "cells_per_s": data.n_cells / seconds, "peak_rss_mb": peak_rss_mb()}


def work_sample(model_dir: str, n: int, out: str) -> dict:
    import biogan

    model = biogan.models.load_model(model_dir, device="cpu")
    start = time.perf_counter()
    model.write_samples(out, n=n, seed=0)
    seconds, peak = time.perf_counter() - start, peak_rss_mb()  # before the check below reads the file
    from biogan.data.ondisk import BackedCells

    check = BackedCells(out)  # obs and var only: anndata's backed mode would load the counts layer
    assert check.n_obs == n and check.X.shape == (n, len(model.genes)), check
    return {"seconds": seconds, "cells_per_s": n / seconds, "peak_rss_mb": peak}


def work_quality(
    backed: bool, seed: int, folder: str, device: str = "auto", overrides: dict | None = None
) -> dict:
    import warnings

    import biogan
    from biogan.data import read_cells, stratified_split

    warnings.simplefilter("ignore")
    train, held = stratified_split(biogan.datasets.pbmc68k_counts(), "cell_type", 0.5, seed=0)
    path = Path(folder) / "pbmc68k_train.h5ad"
    if not path.exists():
        train.write_h5ad(path)
    cells = read_cells(path, backed=backed)
    biogan.ExpressionGAN.setup_anndata(cells, layer="counts", labels_key="cell_type")
    start = time.perf_counter()
    model = biogan.ExpressionGAN(cells, seed=seed, device=device, **(overrides or {})).fit(progress=False)
    seconds = time.perf_counter() - start
    synth = model.sample(
        held.n_obs, labels=held.obs["cell_type"].astype(str).value_counts().to_dict(), seed=seed
    )
    table = biogan.evaluate(held, synth, labels_key="cell_type", train=train)
    pick = table.set_index("metric") if "metric" in table.columns else table
    return {
        "table": pick.reset_index().to_dict(orient="records"),
        "train_s": seconds,
        "steps": model.trainer.step,
    }


FAST = {"precision": "bf16", "compile": True}
# (label, mode, device, overrides), most important first: a run cut off by its deadline keeps the first rows.
GPU_RUNS = (
    ("fp32 eager (defaults)", "in memory", "cuda", {}),
    ("bf16", "in memory", "cuda", {"precision": "bf16"}),
    ("torch.compile", "in memory", "cuda", {"compile": True}),
    ("bf16 + torch.compile", "in memory", "cuda", FAST),
    ("fp32 eager (defaults)", "backed", "cuda", {}),
    ("fp32 eager, batch 1024", "in memory", "cuda", {"batch_size": 1024}),
    ("bf16 + compile, batch 1024", "in memory", "cuda", {"batch_size": 1024, **FAST}),
    ("fp32 eager, batch 4096", "in memory", "cuda", {"batch_size": 4096}),
    ("fp32 eager (defaults), CPU", "in memory", "cpu", {}),
)  # fmt: skip
GPU_QUALITY = (("fp32 eager", {}), ("bf16", {"precision": "bf16"}), ("bf16 + torch.compile", FAST))


def _append_json(log: str, record: dict) -> None:
    """One JSON line per finished measurement, so a run stopped at its limit keeps what it measured."""
    with open(log, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def count_syncs(model, steps: int) -> int:
    """Host-device synchronisations during ``steps`` more training steps (``torch.cuda`` sync debug mode
    warns at each one: ``.item()``, ``.cpu()``, ``nonzero``, blocking copies)."""
    import warnings

    import torch

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(max_steps=model.trainer.step + steps, progress=False)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def gpu_run(model, overrides: dict, seconds: float) -> dict:
    """:func:`timed_fit` of an untrained ``model`` with ``overrides`` of its training settings, with peak
    GPU memory and (eager runs) syncs per step."""
    import torch

    for key, value in overrides.items():  # in place: the problem holds the same config object
        setattr(model.config.train, key, value)
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    out = timed_fit(model, seconds)
    out["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    if cuda and not overrides.get("compile"):
        out["syncs_per_step"] = count_syncs(model, 100) / 100
    return out


def work_gpu(path: str, seconds: float, folder: str, log: str, deadline_s: float) -> dict:
    """Every :data:`GPU_RUNS` row on the 100k atlas, then :data:`GPU_QUALITY` on pbmc68k, in this one
    process (fresh processes would repeat CUDA start-up and imports on a leased GPU). The set-up passes
    run once per mode and device; each row trains a copy of that untrained model. Rows past
    ``deadline_s`` of wall time are skipped."""
    import copy
    import warnings

    import torch

    import biogan
    from biogan.data import read_cells

    warnings.simplefilter("ignore")
    begin = time.perf_counter()
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    _append_json(log, {"part": "device", "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "cpu_threads": torch.get_num_threads()})  # fmt: skip
    built = {}
    for label, mode, device, overrides in GPU_RUNS:
        if time.perf_counter() - begin > deadline_s:
            break
        try:
            if (mode, device) not in built:
                cells = read_cells(path, backed=mode == "backed")
                biogan.ExpressionGAN.setup_anndata(cells, labels_key="cell_type")
                start = time.perf_counter()
                model = biogan.ExpressionGAN(cells, seed=0, device=device)
                built[mode, device] = model, time.perf_counter() - start
            base, setup = built[mode, device]
            # A backed file's handle cannot be copied: its one row trains the model itself.
            model = base if mode == "backed" else copy.deepcopy(base)
            result = {"setup_s": setup, **gpu_run(model, overrides, seconds)}
        except Exception as err:  # one failing row must not lose the others
            result = {"error": f"{type(err).__name__}: {err}"[:500]}
        _append_json(log, {"part": "train", "run": label, "mode": mode, "device": device, **result})
    for label, overrides in GPU_QUALITY:
        if time.perf_counter() - begin > deadline_s:
            break
        result = work_quality(False, 0, folder, device="cuda", overrides=overrides)
        _append_json(log, {"part": "quality", "run": label, **result})
    return {"log": log}


WORKERS = {
    "train": work_train,
    "epoch": work_epoch,
    "sample": work_sample,
    "quality": work_quality,
    "gpu": work_gpu,
}


def run_worker(name: str, **kwargs) -> dict:
    """``WORKERS[name](**kwargs)`` in a fresh Python process (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--worker", name, "--kwargs", json.dumps(kwargs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} {kwargs} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_ddp(path: Path, seconds: float, out: Path) -> dict:
    """Two gloo ranks on the CPU through torchrun; per-rank cells/s from the steps they report."""
    import re

    from biogan.models.expression import ExpressionGANConfig

    cfg = ExpressionGANConfig().train
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "biogan", "train"]
    cmd += ["expression", str(path), "--backed", "--labels-key", "cell_type", "--out", str(out)]
    cmd += ["--device", "cpu", "--max-minutes", str(seconds / 60), "--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"torchrun failed:\n{done.stderr[-3000:]}")
    found = re.search(r"trained (\d+) steps on 2 processes in (\d+) s", done.stdout)
    steps, train_s = int(found.group(1)), float(found.group(2))
    per_rank_batch = -(-cfg.batch_size // 2)
    per_rank = steps * (cfg.n_critic + 1) * per_rank_batch / max(train_s, 1)
    return {"steps": steps, "train_s": train_s, "wall_s": wall, "per_rank_cells_per_s": per_rank}


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--work", default="/tmp/biogan_scale")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--train-seconds", type=float, default=90)
    parser.add_argument("--sample-cells", type=int, default=1_000_000)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {','.join(PARTS)}")
    parser.add_argument("--quality-seeds", default="0,1", help="training seeds of the quality part")
    parser.add_argument("--gpu-log", default=None, help="JSON lines of the gpu part (default: under --work)")
    parser.add_argument("--gpu-deadline", type=float, default=420, help="gpu part: no new row after this (s)")
    parser.add_argument("--render-gpu-log", action="store_true", help="only print the tables of --gpu-log")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", default=None)
    parser.add_argument("--kwargs", default="{}")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](**json.loads(args.kwargs))))
        return
    if args.render_gpu_log:
        report_gpu(Path(args.gpu_log))
        return
    if args.quick:
        args.sizes, args.train_seconds, args.sample_cells = "20000", 10, 20000
    sizes = [int(s) for s in args.sizes.split(",")]
    parts = set(filter(None, args.parts.split(",")))
    work = Path(args.work)
    source = data_dir(args.data_dir) / SOURCE
    rows: list[dict] = []
    files = {}
    for n in sizes:
        start = time.perf_counter()
        files[n] = build_atlas(source, n, work / f"atlas_{n}.h5ad")
        print(f"atlas of {n:,} cells: {files[n]} ({files[n].stat().st_size / 1e9:.2f} GB, "
              f"{time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    smallest = min(sizes)
    for n in sizes if "train" in parts else []:
        for backed in (False, True):
            save = str(work / f"model_{n}") if backed and n == smallest else None
            try:
                r = run_worker(
                    "train", path=str(files[n]), backed=backed, seconds=args.train_seconds, save=save
                )
            except RuntimeError as err:
                print(err, flush=True)
                continue
            rows.append({"cells": n, "mode": "backed" if backed else "in memory", **r})
            print(rows[-1], flush=True)
    epochs = []
    if "epoch" in parts:
        for n in sizes:
            for backed in (False, True):
                r = run_worker("epoch", path=str(files[n]), backed=backed)
                epochs.append({"cells": n, "mode": "backed" if backed else "in memory", **r})
                print(epochs[-1], flush=True)
    sample = None
    if "sample" in parts:
        out = work / "sampled.h5ad"
        sample = run_worker(
            "sample", model_dir=str(work / f"model_{smallest}"), n=args.sample_cells, out=str(out)
        )
        out.unlink(missing_ok=True)
        print(sample, flush=True)
    ddp = None
    if "ddp" in parts:
        ddp = run_ddp(files[smallest], args.train_seconds, work / "ddp_model")
        print(ddp, flush=True)
    quality = []
    if "quality" in parts and not args.quick:
        for backed in (False, True):
            for seed in (int(s) for s in args.quality_seeds.split(",")):
                r = run_worker("quality", backed=backed, seed=seed, folder=str(work))
                quality.append({"mode": "backed" if backed else "in memory", "seed": seed, **r})
                print({k: v for k, v in quality[-1].items() if k != "table"}, flush=True)
    report(rows, epochs, sample, ddp, quality, args)
    if "gpu" in parts:
        log = Path(args.gpu_log or work / "gpu.jsonl")
        log.unlink(missing_ok=True)
        kwargs = {"path": str(files[smallest]), "seconds": args.train_seconds, "folder": str(work)}
        done = run_worker("gpu", **kwargs, log=str(log), deadline_s=args.gpu_deadline)
        if "skipped" in done:
            print(f"\n{done['skipped']}: gpu part skipped", flush=True)
        if log.exists():
            report_gpu(log)


def report(rows, epochs, sample, ddp, quality, args) -> None:
    import pandas as pd

    print(f"\n## Scale — {utc_stamp()} — {machine()}\n")
    print(f"command: python benchmarks/scale.py --sizes {args.sizes} --train-seconds {args.train_seconds:g} "
          f"--sample-cells {args.sample_cells} --parts {args.parts} "
          f"--quality-seeds {args.quality_seeds}\n")  # fmt: skip
    if rows:
        frame = pd.DataFrame(rows)
        frame["peak_rss_gib"] = frame.pop("peak_rss_mb") / 1024
        print("Training (ExpressionGAN defaults; cells/s = rows the loader handed out)\n")
        print(frame.round(3).to_markdown(index=False))
        for n in frame["cells"].unique():
            part = frame[frame["cells"] == n].set_index("mode")
            if {"backed", "in memory"} <= set(part.index):
                ratio = part.loc["backed", "cells_per_s"] / part.loc["in memory", "cells_per_s"]
                print(f"\nbacked / in-memory throughput at {n:,} cells: {ratio:.2f}")
    if epochs:
        frame = pd.DataFrame(epochs)
        frame["peak_rss_gib"] = frame.pop("peak_rss_mb") / 1024
        frame["us_per_cell"] = 1e6 * frame["epoch_s"] / frame["cells"]
        print("\nOne epoch of the data path alone (batch 128)\n")
        print(frame.round(3).to_markdown(index=False))
    if sample:
        rss = sample["peak_rss_mb"] / 1024
        print(f"\nSampling {args.sample_cells:,} cells to .h5ad: {sample['seconds']:.0f} s, "
              f"{sample['cells_per_s']:,.0f} cells/s, peak RSS {rss:.2f} GiB")  # fmt: skip
    if ddp:
        smallest = min(int(s) for s in args.sizes.split(","))
        print(f"\nDDP, 2 CPU ranks (gloo), backed {smallest:,} cells: {ddp['steps']} steps in "
              f"{ddp['train_s']:.0f} s, {ddp['per_rank_cells_per_s']:,.0f} cells/s per rank")  # fmt: skip
    if quality:
        flat = []
        for q in quality:
            for rec in q["table"]:
                flat.append({"mode": q["mode"], "seed": q["seed"], **rec})
        frame = pd.DataFrame(flat)
        frame = frame[frame["scope"] == "overall"]
        print("\nQuality, pbmc68k 350/350 (biogan.evaluate, overall rows; control = real vs real)\n")
        print(overall_table(frame, ["mode", "seed"]).round(4).to_markdown())
        spread = frame.groupby(["metric", "mode"], sort=False)["value"].agg(["mean", "std", "count"])
        print("\nMean and sd over seeds per mode\n")
        print(spread.unstack("mode").round(4).to_markdown())
        print(
            "\n"
            + pd.DataFrame([{k: v for k, v in q.items() if k != "table"} for q in quality])
            .round(1)
            .to_markdown(index=False)
        )


def overall_table(frame, columns: list[str]):
    """Metric rows by ``columns`` of ``biogan.evaluate``'s overall rows, the real-vs-real control beside."""
    table = frame.pivot_table(index="metric", columns=columns, values="value", sort=False)
    table["control"] = frame.groupby("metric", sort=False)["control"].first()
    return table


def report_gpu(log: Path) -> None:
    """The gpu part's tables from its JSON lines (also after a run stopped at its limit)."""
    import pandas as pd

    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for rec in (r for r in records if r["part"] == "device"):
        print(f"\nGPU: {rec['gpu']}, torch {rec['torch']}, {rec['cpu_threads']} CPU threads")
    train = [{k: v for k, v in r.items() if k != "part"} for r in records if r["part"] == "train"]
    if train:
        print("\nTraining on the GPU (ExpressionGAN, 2,000 genes; cells/s = rows the loader handed out)\n")
        print(pd.DataFrame(train).round(3).to_markdown(index=False))
    quality = [r for r in records if r["part"] == "quality"]
    if quality:
        frame = pd.DataFrame([{"run": q["run"], **rec} for q in quality for rec in q["table"]])
        frame = frame[frame["scope"] == "overall"]
        print("\nQuality on the GPU, pbmc68k 350/350, seed 0 (biogan.evaluate, overall rows)\n")
        print(overall_table(frame, ["run"]).round(4).to_markdown())
        times = [{k: v for k, v in q.items() if k not in ("table", "part")} for q in quality]
        print("\n" + pd.DataFrame(times).round(1).to_markdown(index=False))


if __name__ == "__main__":
    main()
