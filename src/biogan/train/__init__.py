"""The one training schedule (:class:`TrainerBase`), its adversarial and likelihood steps, checkpoints,
EMA, diagnostics and DDP."""

from biogan.train.base import TrainerBase
from biogan.train.checkpoint import load_state, save_state
from biogan.train.config import LikelihoodTrainConfig, ScheduleConfig, TrainConfig
from biogan.train.diagnostics import diagnose
from biogan.train.likelihood import LikelihoodTrainer
from biogan.train.loop import AdversarialTrainer
from biogan.train.problem import (
    AdversarialProblem,
    Batch,
    ClassConditionalProblem,
    DataProblem,
    LikelihoodProblem,
)

__all__ = [
    "AdversarialProblem",
    "AdversarialTrainer",
    "Batch",
    "ClassConditionalProblem",
    "DataProblem",
    "LikelihoodProblem",
    "LikelihoodTrainConfig",
    "LikelihoodTrainer",
    "ScheduleConfig",
    "TrainConfig",
    "TrainerBase",
    "diagnose",
    "load_state",
    "save_state",
]
