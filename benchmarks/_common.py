"""Benchmark helpers: run a method in a fresh process to measure its wall time and peak memory."""

from __future__ import annotations

import multiprocessing as mp
import platform
import queue as queue_module
import resource
import time
from collections.abc import Callable
from typing import Any


def _child(fn: Callable[..., Any], args: tuple, queue: mp.Queue) -> None:
    import torch

    torch.set_num_threads(1)  # 2 threads stall when anything else shares the 2 cores
    start = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - start
    queue.put((result, seconds, peak_rss_mib()))


def peak_rss_mib() -> float:
    """Peak resident memory of this process image in MiB.

    Linux's ``VmHWM`` when there is one: ``ru_maxrss`` survives fork + exec, so a spawned child reports at
    least the size its parent had when it started it (measured: 982 MiB for a child that used 236 MiB).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """``fn(*args)`` in a spawned process; returns ``(result, wall seconds, peak RSS in MiB)``.

    Peak RSS includes the interpreter and imports (about the same for every method).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    while True:  # a child that dies (an exception, the OOM killer) must not leave the parent waiting
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{fn.__name__} died in its process (exit code {proc.exitcode})") from None
    proc.join()
    return result


def machine() -> str:
    """One line naming the machine the numbers came from."""
    import os

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, {device}, torch {torch.__version__}"


def utc_stamp() -> str:
    """The current time, as written under every results table."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def mean_std_table(rows: list[dict], by: str = "method") -> Any:
    """One row per ``by`` value, each metric as ``mean ± std`` over the seeds; printed too."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    metrics = [c for c in frame.columns if c not in (by, "seed")]
    grouped = frame.groupby(by, sort=False)[metrics]
    table = grouped.mean().round(3).astype(str) + " ± " + grouped.std().round(3).astype(str)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string())
    return table


def paired_gains(rows: list[dict], method: str, baselines: list[str], metrics: list[str]) -> Any:
    """``method`` minus each baseline, paired by seed (same split), as ``mean ± std`` over the seeds."""
    import pandas as pd

    frame = pd.DataFrame(rows).set_index(["method", "seed"])
    out = {}
    for baseline in baselines:
        diff = frame.loc[method, metrics] - frame.loc[baseline, metrics]
        out[f"{method} − {baseline}"] = (
            diff.mean().round(3).astype(str) + " ± " + diff.std().round(3).astype(str)
        )
    table = pd.DataFrame(out).T
    print(table.to_string())
    return table
