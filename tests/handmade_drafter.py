"""`scribe serve` whose notes carry patient instructions and omissions made by hand, for
the recorder page's tests: they check the instructions and omissions panels whatever the
real drafter and omission check produce.

Run as ``python -m tests.handmade_drafter serve --drafter handmade ...`` (from the repo
root). It registers the ``handmade`` drafter, replaces the omission check, then runs the
command line as ``python -m scribe.cli`` would.

- ``HandmadeDrafter`` drafts with the default drafter, then replaces its patient
  instructions with the clinician's last ``INSTRUCTIONS`` lines (one sentence each, as
  said, citing that line).
- ``handmade_omissions`` lists, for each of ``OMISSION_WORDS`` said in the visit, the
  first line that said it: a fixed kind, the word as said, that line as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scribe.types import Note, NoteSentence, Omission, Role, Transcript

INSTRUCTIONS = 2
OMISSION_WORDS = (("symptom", "fever"), ("symptom", "mucus"), ("number", "week"))


@dataclass
class HandmadeDrafter:
    inner: object
    name: str = "handmade"
    version: str = "1"

    @classmethod
    def from_options(cls, options) -> "HandmadeDrafter":
        from scribe.notes.base import DRAFTERS

        return cls(DRAFTERS.create(DRAFTERS.names()[0], options))

    def draft(self, transcript: Transcript, template) -> Note:
        note = self.inner.draft(transcript, template)
        said = [s for s in transcript.segments if s.role is Role.CLINICIAN and s.text.strip()]
        instructions = tuple(NoteSentence(s.text.strip(), (s.id,)) for s in said[-INSTRUCTIONS:])
        return replace(note, instructions=instructions)


def handmade_omissions(transcript: Transcript, note: Note) -> tuple[Omission, ...]:
    found = []
    for kind, word in OMISSION_WORDS:
        line = next((s for s in transcript.segments if word in s.text.lower()), None)
        if line is not None:
            found.append(Omission(kind, word, (line.id,)))
    return tuple(found)


def main() -> None:
    import scribe.notes.omissions
    from scribe.notes.base import DRAFTERS

    DRAFTERS.register("handmade", "tests.handmade_drafter:HandmadeDrafter")
    scribe.notes.omissions.find_omissions = handmade_omissions
    from scribe.cli import app

    app()


if __name__ == "__main__":
    main()
