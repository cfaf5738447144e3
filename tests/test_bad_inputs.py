"""The bad-input corpus (issue 13), generated here: every CLI command against bad data, bad options,
unwritable or dangerous outputs, and damaged or hostile files.

Each case must exit with status 2 and print one line starting ``error:`` that says what is wrong (no
traceback), and leave every file in its folder as it was (no partial output, no input touched). Hostile
content that is not an error (markup in labels, gene and file names) must come out escaped in the report.
The cases live in ``benchmarks/_reliability_cases.py``, shared with ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _reliability_cases as rc

ENTRY_POINTS = {
    "train expression", "train vae", "train table", "train sequence", "train genotype", "train structure",
    "sample", "augment", "impute",
    "evaluate", "report",
    "compare", "demo",
}  # fmt: skip


@pytest.fixture(scope="module")
def materials(tmp_path_factory) -> rc.Materials:
    """Good cells, a good table and tiny trained models, made once for the module."""
    return rc.build_materials(tmp_path_factory.mktemp("materials"))


@pytest.mark.parametrize("case", rc.CASES, ids=lambda case: case.id)
def test_bad_input_gets_one_clean_error_and_leaves_nothing(case, materials, tmp_path):
    outcome = rc.run_case(case, materials, tmp_path / "case")
    assert outcome.passed, outcome.describe()


def test_every_command_is_in_the_corpus():
    assert set(rc.ENTRY_POINTS) == ENTRY_POINTS
    assert len({case.id for case in rc.CASES}) == len(rc.CASES)  # ids are unique
    assert all(case.expect or case.safe_check for case in rc.CASES)


# ---------------------------------------------------------------------------------------------- the judge
def test_the_pickle_payload_is_live(materials, tmp_path):
    """The hostile model.pt of the corpus really runs code when unpickled without weights_only, so its
    refusal above means something."""
    rc.model(damage=rc.pickle_payload("model.pt"))(tmp_path, materials)
    torch.load(tmp_path / "m" / "model.pt", weights_only=False)
    assert (tmp_path / rc.PWNED).exists()


def test_a_good_command_is_judged_accepted_with_its_output(materials, tmp_path):
    args = ("sample", "{d}/m", "-n", "5", "-o", "{d}/s.h5ad", "--device", "cpu")
    outcome = rc.run_case(rc.Case("sample", "good", args, (rc.model(),), ("",)), materials, tmp_path / "c")
    assert outcome.status == "accepted" and outcome.left == ["+s.h5ad"], outcome.describe()
    assert not outcome.passed  # a bad input that is accepted fails its case


def _outcome(exit_code: int | None, output: str, exception: str | None = None, left=()) -> rc.Outcome:
    case = rc.Case("sample", "x", (), (), ("bad thing",))
    return rc.Outcome(case, exit_code, output, exception, 0.1, left=list(left))


@pytest.mark.parametrize(
    ("outcome", "status", "passed"),
    [
        (_outcome(2, "error: a bad thing; fix it\n"), "clean", True),
        (_outcome(2, "error: a bad thing\n", left=["+out.csv"]), "clean", False),  # a partial file
        (_outcome(2, "error: something else\n"), "unclear", False),  # does not say what is wrong
        (_outcome(2, "UserWarning: hm\nerror: a bad thing\n"), "unclear", False),  # not one line
        (_outcome(1, "", "KeyError: 'label'"), "traceback", False),
        (_outcome(1, "Aborted!\n"), "unclear", False),
        (_outcome(0, "wrote 5 cells\n"), "accepted", False),
        (_outcome(None, "child died"), "crash", False),
    ],
)
def test_the_judge(outcome, status, passed):
    assert (outcome.status, outcome.passed) == (status, passed)
