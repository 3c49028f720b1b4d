"""`scribe serve` with a model drafter whose output the tests control, for the service and
recorder tests of live visits drafted by a model at Stop.

Run as ``python -m tests.model_drafter serve --drafter tinyllm ...`` (from the repo root)
with ``SCRIBE_TEST_NOTE_MODEL`` naming a tiny random causal LM folder
(``tests.test_llm_drafter.build_model``). It registers the ``tinyllm`` drafter, then runs
the command line as ``python -m scribe.cli`` would.

``TinyLlmDrafter`` is the real ``llm`` drafter (``scribe.notes.llm``: chunking, prompts,
parsing, the grounding guard, progress per chunk) on that model; after the model's own
(random) words, each chunk's output also carries, in the model's line format, the chunk's
first transcript line (supported: said word for word) and ``FLAGGED``, sentences the
visit never said (the guard flags them), so the page has flagged sentences to accept and
delete whatever the random weights write.

``SCRIBE_TEST_DRAFT_GATE`` (optional) names a file: each chunk waits until it exists
(polled, 120 s at most) before its output is returned, so a test can act while the model
is certainly drafting, then let it finish. While a chunk waits, ``GATE.waiting`` exists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from scribe.notes.llm import LlmDrafter, LlmParams

FLAGGED = (
    "plan: Start warfarin 20 mg twice a day.",
    "assessment: Fracture of the left wrist.",
    "objective: Blood pressure is 190 over 120.",
)


def wait_for_gate() -> None:
    gate = os.environ.get("SCRIBE_TEST_DRAFT_GATE")
    if not gate:
        return
    deadline = time.monotonic() + 120
    waiting = Path(gate + ".waiting")
    waiting.touch()
    try:
        while not Path(gate).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("draft gate never opened")
            time.sleep(0.05)
    finally:
        waiting.unlink(missing_ok=True)


class TinyLlmDrafter(LlmDrafter):
    @classmethod
    def from_options(cls, options) -> "TinyLlmDrafter":
        return cls.load(os.environ.get("SCRIBE_TEST_NOTE_MODEL", "no-model-given"), LlmParams(max_new_tokens=16))

    def generate(self, prompt: str) -> str:
        words = super().generate(prompt)  # the model's real work, on the drafting thread
        wait_for_gate()
        first = next(line for line in prompt.splitlines() if line.startswith("[s"))
        sid, said = first[1:first.index("]")], first.split(": ", 1)[1]
        crafted = [f"subjective: {said} [{sid}]", *(f"{line} [{sid}]" for line in FLAGGED)]
        return words + "\n" + "\n".join(crafted) + "\n"


def main() -> None:
    from scribe.notes.base import DRAFTERS

    DRAFTERS.register("tinyllm", "tests.model_drafter:TinyLlmDrafter")
    from scribe.cli import app

    app()


if __name__ == "__main__":
    main()
