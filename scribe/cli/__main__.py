"""``python -m scribe.cli`` and the ``scribe`` console script (``main``)."""

import sys

_LINE = "interrupted before any input was processed"


def main() -> None:
    """Run the ``scribe`` app, typer's behaviour otherwise unchanged. A Ctrl+C that lands
    before a command's own handling (``app.interruptible``: while the app's modules
    import, or while typer builds and parses the command line, where typer exits 130
    without a word) is this one line and exit 130 (128 + SIGINT), not a traceback."""
    try:
        from scribe.cli import app

        app()
    except KeyboardInterrupt:
        print(_LINE, file=sys.stderr)
        sys.exit(130)
    except SystemExit as e:
        # typer turns a KeyboardInterrupt it catches into a silent Exit(130) caused by
        # it; a command that reported its interrupt raised its Exit from None.
        if e.code == 130 and isinstance(getattr(e.__context__, "__cause__", None), KeyboardInterrupt):
            print(_LINE, file=sys.stderr)
        raise


if __name__ == "__main__":
    main()
