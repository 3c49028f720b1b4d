"""The ``scribe`` command line: typer commands grouped by job, each a thin layer that
parses options, calls the library and prints one line per result or error.

``app`` (``scribe.cli.app``) holds the shared options and helpers; the command modules
register on it when ``scribe.cli.app`` (the attribute) is first read, in the order
``scribe --help`` lists them: ``transcribe`` (batch), ``draft`` (notes from
transcripts), ``live`` (serve, record), ``export`` (to the EHR), ``site`` (audit,
recover, purge), ``enroll`` (clinician voices).

Importing this package imports nothing else: the ``scribe`` entry point
(``scribe.cli.__main__.main``) imports the app (0.4 s: typer, numpy, the registries)
inside its own Ctrl+C handling, so an interrupt then is one line, not a traceback.
"""

import sys
import types

__all__ = ["app"]


def _app():
    from scribe.cli.app import app

    # Imported for their commands, in help order.
    from scribe.cli import transcribe  # noqa: F401,I001
    from scribe.cli import draft  # noqa: F401
    from scribe.cli import live  # noqa: F401
    from scribe.cli import export  # noqa: F401
    from scribe.cli import site  # noqa: F401
    from scribe.cli import enroll  # noqa: F401

    return app


class _Cli(types.ModuleType):
    # ``app`` is the typer app, never the submodule of that name: importing a submodule
    # sets the package's attribute of its name, which the setter ignores (the submodule is
    # sys.modules["scribe.cli.app"]: import from it with ``from scribe.cli.app import``).
    @property
    def app(self):
        return _app()

    @app.setter
    def app(self, value) -> None:
        pass


sys.modules[__name__].__class__ = _Cli
