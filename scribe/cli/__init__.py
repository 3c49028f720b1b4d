"""The ``scribe`` command line: typer commands grouped by job, each a thin layer that
parses options, calls the library and prints one line per result or error.

``app`` (``scribe.cli.app``) holds the shared options and helpers; the command modules
register on it when imported here, in the order ``scribe --help`` lists them:
``transcribe`` (batch), ``draft`` (notes from transcripts), ``live`` (serve, record), ``export`` (to the EHR), ``site``
(audit, recover, purge), ``enroll`` (clinician voices).
"""

from scribe.cli.app import app

# Imported for their commands, in help order.
from scribe.cli import transcribe  # noqa: E402,F401,I001
from scribe.cli import draft  # noqa: E402,F401
from scribe.cli import live  # noqa: E402,F401
from scribe.cli import export  # noqa: E402,F401
from scribe.cli import site  # noqa: E402,F401
from scribe.cli import enroll  # noqa: E402,F401

__all__ = ["app"]
