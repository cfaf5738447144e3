"""The shared adversarial training loop, checkpoints, EMA and training diagnostics."""

from biogan.train.checkpoint import load_state, save_state
from biogan.train.diagnostics import diagnose
from biogan.train.loop import AdversarialTrainer, TrainConfig
from biogan.train.problem import AdversarialProblem, Batch

__all__ = [
    "AdversarialProblem",
    "AdversarialTrainer",
    "Batch",
    "TrainConfig",
    "diagnose",
    "load_state",
    "save_state",
]
