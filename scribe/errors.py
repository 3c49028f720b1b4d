"""Errors a user can act on. Each renders as one line naming the input and the reason;
the CLI prints that line and exits non-zero, never a traceback."""

from __future__ import annotations

import os


class ScribeError(Exception):
    """Base for errors reported to the user as one line."""

    exit_code = 1


class PathError(ScribeError):
    """An error about one file or folder: renders as ``<path>: <reason>``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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
