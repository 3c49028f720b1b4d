"""`scribe serve` whose reaper discards a visit no recorder connected to after
``CONNECT_SECONDS`` instead of a minute, so tests/test_recorder_failures.py sees the reaper
act without waiting out the real deadline. Everything else is the real service.

Run as ``python -m tests.recorder_failures_serve serve ...`` (from the repo root).
"""

from __future__ import annotations

CONNECT_SECONDS = 2.0


def main() -> None:
    from scribe.service.capture import CaptureService, Limits

    CaptureService.__init__.__kwdefaults__["limits"] = Limits(connect_seconds=CONNECT_SECONDS)
    from scribe.cli import app

    app()


if __name__ == "__main__":
    main()
