"""Notes: a role-labelled transcript and a template (``templates``) drafted into a visit
note whose every sentence cites its evidence.

The seam is ``Drafter.draft(transcript, template) -> Note``; backends are listed in
``DRAFTERS`` and chosen by ``ScribeOptions.drafter`` (``--drafter``). The default,
``extractive.py``, only restates what was said. A new drafter (a learned model, an LLM,
an audio-language model) is one module here implementing the protocol, plus one entry in
``DRAFTERS`` (``scribe/notes/base.py``). Importing this package loads no model.
"""

from scribe.notes.base import DRAFTERS, AudioSource, Drafter, DraftProgress, draft_note

__all__ = ["DRAFTERS", "AudioSource", "DraftProgress", "Drafter", "draft_note"]
