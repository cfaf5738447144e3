"""Exceptions raised by biogan.

Every problem a user can cause (bad data, a wrong label, a damaged checkpoint, an unwritable path) is
reported as a subclass of :class:`BioganError` with a message that names the problem and, where possible,
how to fix it. The CLI prints these in one line and exits with status 2.
"""


class BioganError(Exception):
    """Base class of every error biogan raises on purpose."""


class InvalidDataError(BioganError, ValueError):
    """The input data cannot be used (NaN/inf, negative or non-integer counts, empty, wrong shape)."""


class UnknownLabelError(BioganError, KeyError):
    """A label column or a label value that the data or the model does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class GeneMismatchError(BioganError, ValueError):
    """The genes of a data set do not match the genes a model was trained on."""


class CheckpointError(BioganError, OSError):
    """A saved model or checkpoint is missing, truncated, corrupt or from an incompatible version."""


class OutputPathError(BioganError, OSError):
    """An output file or folder cannot be written."""


class DeviceError(BioganError, ValueError):
    """A ``--device`` that does not exist on this machine."""


class ConfigError(BioganError, ValueError):
    """A hyperparameter that does not exist or has a value of the wrong type or range."""


class TrainingWarning(UserWarning):
    """A training problem the user can act on (mode collapse, divergence, oscillation, no progress)."""


class NotFittedError(BioganError, RuntimeError):
    """A method that needs a trained model was called before ``fit``."""


class PrivacyWarning(UserWarning):
    """Synthetic samples copy training samples more than held-out real ones do."""
