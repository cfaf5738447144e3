"""Reliability table (issue 13): the bad-input corpus against every command, and the kill trials.

Runs every case of ``_reliability_cases.py`` (the corpus ``tests/test_bad_inputs.py`` asserts on) and
the kill trials of ``_kill_trials.py`` (``tests/test_kill.py``), and prints one markdown table with a row
per entry point: bad inputs tried, clean one-line errors, tracebacks, silent acceptances of bad data,
unclear errors, hangs or crashes, partial files, damaged and hostile files refused, and kill trials run
and survived bit-identical; then the kill trials one by one and every case that did not pass.

    .venv/bin/python benchmarks/reliability.py                       # about 2.5 minutes on 2 cores
    .venv/bin/python benchmarks/reliability.py --out benchmarks/results/reliability.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import _kill_trials as kt
import _reliability_cases as rc
import pandas as pd
import torch
from _common import machine, utc_stamp


def run_corpus(root: Path, timeout: float) -> list[rc.Outcome]:
    mat = rc.build_materials(root / "materials")
    outcomes = []
    for i, case in enumerate(rc.CASES):
        outcome = rc.run_case(case, mat, root / f"case{i:03d}" / "case", timeout)
        outcomes.append(outcome)
        print(f"{outcome.status:9s} {outcome.seconds:5.1f} s  {case.id}", file=sys.stderr, flush=True)
    return outcomes


def run_kills(root: Path, seed: int) -> list[kt.TrialResult]:
    data = kt.write_data(root / "cells.h5ad")
    seconds = kt.run_to_end(data, root / "reference")
    results = []
    for trial in kt.plan(seed):
        result = kt.run_trial_until_killed(trial, data, root / trial.name, root / "reference", seconds)
        results.append(result)
        print(result.describe(), file=sys.stderr, flush=True)
    return results


def table(outcomes: list[rc.Outcome], kills: list[kt.TrialResult] | None) -> pd.DataFrame:
    """The corpus summary with the kill trials in the ``train expression`` row (and the total)."""
    frame = rc.summary(outcomes)
    run = f"{len(kills)}" if kills is not None else "not run"
    survived = f"{sum(r.survived for r in kills)}" if kills is not None else "not run"
    killed_rows = frame["entry point"].isin(["biogan train expression", "**all**"])
    frame["kill trials run"] = ["" if not hit else run for hit in killed_rows]
    frame["survived bit-identical"] = ["" if not hit else survived for hit in killed_rows]
    return frame


def kill_table(kills: list[kt.TrialResult]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trial": r.trial.name,
                "killed": r.moment if r.killed else f"no ({r.moment})",
                "resumed from step": r.resumed_from
                if r.resumed_from is not None
                else "0 (no checkpoint yet)",
                "debris left by the kill": ", ".join(r.debris) or "none",
                "files complete, temp and lock gone": "yes" if not r.problems else "; ".join(r.problems),
                "bit-identical": "yes" if r.identical else "no",
            }
            for r in kills
        ]
    )


def failures(outcomes: list[rc.Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.passed:
            continue
        if o.status == "accepted":
            said = f"exit 0, wrote {', '.join(o.left[:3]) or 'nothing'}"
        else:
            said = " | ".join(line for line in o.output.strip().splitlines() if line.strip())[-240:]
            said = f"{o.exception}: {said}" if o.exception else said
        left = f"; left {', '.join(o.left[:4])}" if o.partial else ""
        lines.append(f"- `{o.case.id}`: {o.status}{left}: {said or 'no output'}")
    return "\n".join(lines) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this file")
    parser.add_argument("--seed", type=int, default=13, help="seed of the kill moments")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill trials")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds a case may run (then: a hang)")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")  # reports draw figures without a display
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="biogan-reliability-") as folder:
        outcomes = run_corpus(Path(folder) / "corpus", args.timeout)
        kills = None if args.no_kill else run_kills(Path(folder) / "kill", args.seed)
    command = "python benchmarks/reliability.py" + (" --no-kill" if args.no_kill else "")
    text = (
        f"Command: `{command}`  \nMachine: {machine()}  \nDate: {utc_stamp()}  \n"
        f"{len(outcomes)} bad inputs and hostile files (generated), {time.perf_counter() - start:.0f} s.\n\n"
        f"{table(outcomes, kills).to_markdown(index=False)}\n"
    )
    if kills is not None:
        text += f"\nKill trials (SIGKILL, then --resume; seed {args.seed}):\n\n"
        text += f"{kill_table(kills).to_markdown(index=False)}\n"
    text += f"\nCases that did not pass:\n\n{failures(outcomes)}\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
