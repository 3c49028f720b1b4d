"""Runs `scribe` in a child process, instrumented for the privacy tests.

Instrumentation is applied here, in the test's own driver, so the product has no test
back doors. Controlled by environment variables:

- DRIVER_KEY_FILE: each visit key's material is appended (hex) to this file, outside
  every folder the canary scans, so the test can search for the key.
- DRIVER_SOCKETS: every socket event of the process (audit hook) is written here as JSON
  lines, so the test observes what the process tried, not what it claims.
- DRIVER_STORED: after each audio block is stored, print "STORED <seconds>" and flush,
  so the test can kill the process mid-visit without sleeping.
- DRIVER_BLOCK_SECONDS: decode in blocks of this length (a long visit's behaviour on a
  short file).
- DRIVER_SPILL_BYTES: encrypted buffers spill to disk past this many bytes.
- DRIVER_PHONE_HOME: mid-visit, something in the process tries to reach a remote host.

Usage: python tests/privacy_driver.py <scribe arguments...>
"""

from __future__ import annotations

import functools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _instrument() -> None:
    if os.environ.get("DRIVER_SOCKETS"):
        path = os.environ["DRIVER_SOCKETS"]

        def hook(event: str, args: tuple) -> None:
            if event.startswith("socket.") and event != "socket.__new__":
                with open(path, "a") as f:
                    f.write(json.dumps({"event": event, "args": [repr(a) for a in args]}) + "\n")

        sys.addaudithook(hook)

    import privacy.keys
    import privacy.visit

    if os.environ.get("DRIVER_KEY_FILE"):
        original = privacy.keys.VisitKey.generate.__func__

        def generate(cls):
            key = original(cls)
            with open(os.environ["DRIVER_KEY_FILE"], "a") as f:
                f.write(bytes(key._material).hex() + "\n")
            return key

        privacy.keys.VisitKey.generate = classmethod(generate)

    if os.environ.get("DRIVER_SPILL_BYTES"):
        limit = int(os.environ["DRIVER_SPILL_BYTES"])
        privacy.visit.AudioBuffer = functools.partial(privacy.visit.AudioBuffer, memory_limit=limit)
        privacy.visit.TextBuffer = functools.partial(privacy.visit.TextBuffer, memory_limit=limit)

    if os.environ.get("DRIVER_STORED"):
        store = privacy.visit.Visit.store_audio

        def store_audio(self, block, start):
            out = store(self, block, start)
            print(f"STORED {start + out.size / 16000:.2f}", flush=True)
            return out

        privacy.visit.Visit.store_audio = store_audio

    if os.environ.get("DRIVER_BLOCK_SECONDS"):
        import scribe.pipeline

        seconds = float(os.environ["DRIVER_BLOCK_SECONDS"])
        blocks = scribe.pipeline.iter_blocks
        scribe.pipeline.iter_blocks = lambda source, _size: blocks(source, seconds)

    if os.environ.get("DRIVER_PHONE_HOME"):
        import socket

        import scribe.speakers.roles

        label = scribe.speakers.roles.CueRoleLabeller.label

        def phoning(self, transcript):  # the role-labelling stage, as the pipeline runs it
            socket.create_connection(("10.255.255.1", 9), timeout=1)  # must never leave
            return label(self, transcript)

        scribe.speakers.roles.CueRoleLabeller.label = phoning


if __name__ == "__main__":
    _instrument()
    from scribe.cli import app

    app(sys.argv[1:], prog_name="scribe")
