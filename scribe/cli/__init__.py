"""The ``scribe`` command line: typer commands grouped by job, each a thin layer that
parses options, calls the library and prints one line per result or error."""

from scribe.cli.commands import app

__all__ = ["app"]
