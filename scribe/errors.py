"""Errors a user can act on. Each renders as one line naming the input and the reason;
the CLI prints that line and exits non-zero, never a traceback."""

from __future__ import annotations

import errno
import logging
import os
import traceback

# The base and the path error live in the bottom layer, so that privacy's own errors (the
# visit store's) are ScribeErrors too without privacy importing scribe: every caller that
# reports ScribeError as one line reports those the same way.
from privacy.errors import PathError, ScribeError, shown

__all__ = [
    "ScribeError", "PathError", "shown", "InputError", "listed", "not_found", "log_unforeseen", "OutputError", "NoSpeechError", "ModelError", "FhirExportError",
]


class InputError(PathError):
    """A recording that cannot be processed: missing, empty, not audio, corrupt."""

    exit_code = 2


def not_found(path: str | os.PathLike) -> InputError:
    """The ``InputError`` for a path that ``Path.exists()`` says is not there, with the
    real reason: a symbolic link loop and a broken link read as "file not found"
    otherwise, which sends a user looking for a file that is there."""
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return InputError(path, "symbolic link loop")
        if os.path.islink(path):
            return InputError(path, "broken link (its target does not exist)")
        if e.errno != errno.ENOENT:
            return InputError(path, f"cannot be read ({e.strerror})")
    return InputError(path, "file not found")


def listed(entry: str | os.PathLike) -> bool:
    """Whether a folder's ``entry`` is one of its files to process: a regular file (or a
    link to one), or a link that does not resolve (broken, or a loop). The latter are
    listed so that they are reported (``not_found`` says which) and counted as failed
    inputs, not skipped without a word as ``Path.is_file()`` skips them."""
    if os.path.isfile(entry):
        return True
    return os.path.islink(entry) and not os.path.exists(entry)


def log_unforeseen(logger: logging.Logger, what: str, error: BaseException) -> None:
    """Log an unforeseen exception at debug level as its type and the code it came
    through, never its message or arguments: those can quote a visit's text (a value a
    reader failed on) that the log filter has not been told about yet."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))
    logger.debug("%s: %s at %s", what, type(error).__name__, where)


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


class ClusterError(ScribeError):
    """A Ray cluster for a batch across machines cannot be used: Ray is not installed,
    the cluster is not reachable, it reaches beyond this machine without Ray's TLS, or
    no worker is left to process the batch."""

    exit_code = 7
