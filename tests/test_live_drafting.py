"""A stopped visit's model draft (scribe.live.drafting.ModelDraft) on hand-made drafters:
progress, the result, cancellation while queued and while running (the visit closed by
the drafting thread once the model lets go), failures in one line quoting nothing; and
which drafters are model drafters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from scribe.live.drafting import ModelDraft, background_thread, is_model_drafter, model_label
from scribe.notes.hf import ModelLoadError
from scribe.notes.templates import load_template
from scribe.types import Note, NoteSection, NoteSentence, Role, Segment, Transcript

TRANSCRIPT = Transcript((Segment("s0", 0, 2, "Any fever?", speaker="A", role=Role.CLINICIAN),), 2.0, "en")
SOAP = load_template("soap")


class StepDrafter:
    """A model drafter of ``steps`` steps; before each step's progress it waits for
    ``release`` (when given) and records that it got there."""

    name = "llm"
    version = "test"
    reports_progress = True
    path = "/models/tiny-llama"

    def __init__(self, steps: int = 3, release: threading.Event | None = None, fail: BaseException | None = None):
        self.steps, self.release, self.fail = steps, release, fail
        self.started = threading.Event()
        self.calls = 0

    def draft(self, transcript, template, *, progress=None):
        self.calls += 1
        self.started.set()
        for k in range(1, self.steps + 1):
            if self.release is not None:
                assert self.release.wait(30)
            if self.fail is not None:
                raise self.fail
            progress(k, self.steps)
        sentence = NoteSentence("Denies fever.", ("s0",), ("coverage 0.20 below 0.38",))
        return Note(template.id, template.title, template.loinc, (NoteSection("subjective", "Subjective", (sentence,)),))


def test_model_drafters_and_their_label():
    assert is_model_drafter(StepDrafter()) and not is_model_drafter(object())
    assert is_model_drafter(type("Listens", (), {"listens": True})())
    assert model_label(StepDrafter()) == "tiny-llama"


def test_progress_and_the_note():
    seen = []
    job = ModelDraft(StepDrafter(), TRANSCRIPT, SOAP, None)
    assert job.pending and (job.name, job.model) == ("llm", "tiny-llama")
    note = job.run(lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and (job.done, job.total) == (3, 3)
    assert job.state == "done" and not job.pending
    assert note.drafter == "llm" and note.counts().unsupported == 1  # through draft_note


def test_cancelled_while_queued_never_runs():
    drafter = StepDrafter()
    job = ModelDraft(drafter, TRANSCRIPT, SOAP, None)
    closed = []
    assert job.cancel(lambda: closed.append(True)) is False  # not running: the caller closes now
    assert job.run() is None and drafter.calls == 0 and closed == [] and job.state == "cancelled"


def test_cancelled_while_running_hands_the_close_to_the_drafting_thread():
    release = threading.Event()
    drafter = StepDrafter(release=release)
    job = ModelDraft(drafter, TRANSCRIPT, SOAP, None)
    closed = []
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(job.run)
        assert drafter.started.wait(30)
        assert job.cancel(lambda: closed.append(threading.current_thread().name)) is True
        assert closed == []  # the model still holds the visit
        release.set()
        assert future.result(30) is None
    assert job.state == "cancelled" and len(closed) == 1 and closed[0] != threading.current_thread().name


@pytest.mark.parametrize("error, message", [
    (RuntimeError("the patient said chest pain"), "drafting with llm failed (RuntimeError)"),
    (MemoryError(), "drafting with llm ran out of memory"),
    (ModelLoadError("/models/tiny-llama: context of 160 tokens is too small\nmore"),
     "drafting with llm failed: /models/tiny-llama: context of 160 tokens is too small"),
])
def test_failures_are_one_line_and_quote_nothing(error, message):
    job = ModelDraft(StepDrafter(fail=error), TRANSCRIPT, SOAP, None)
    assert job.run() is None
    assert job.state == "failed" and job.error == message


def test_background_thread_lowers_only_its_own_priority():
    import os

    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with ThreadPoolExecutor(1, initializer=background_thread) as pool:
        there = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert there == min(19, here + 10) and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here
