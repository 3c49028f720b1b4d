"""Errors a user can act on. Each renders as one line naming the input and the reason;
the CLI prints that line and exits non-zero, never a traceback."""

from __future__ import annotations

# The base and the path error live in the bottom layer, so that privacy's own errors (the
# visit store's) are ScribeErrors too without privacy importing scribe: every caller that
# reports ScribeError as one line reports those the same way.
from privacy.errors import PathError, ScribeError, shown

__all__ = [
    "ScribeError", "PathError", "shown", "InputError", "OutputError", "NoSpeechError", "ModelError", "FhirExportError",
]


class InputError(PathError):
    """A recording that cannot be processed: missing, empty, not audio, corrupt."""

    exit_code = 2


class OutputError(PathError):
    """Results cannot be written where the user asked."""

    exit_code = 3


class NoSpeechError(InputError):
    """The recording holds no speech. Its (empty) results are still written."""

    exit_code = 5


class ModelError(ScribeError):
    """A speech, VAD or speaker model cannot be found or loaded."""

    exit_code = 4


class FhirExportError(ScribeError):
    """The FHIR server refused a note or kept failing."""

    exit_code = 6
