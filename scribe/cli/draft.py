"""``scribe draft``: transcripts to draft notes, patient instructions and FHIR documents,
without audio (``scribe.batch.draft``): a transcript a clinician corrected, or one from
another tool."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from scribe.cli.app import (
    DrafterOption,
    NoteDeviceOption,
    NoteDtypeOption,
    NoteModelOption,
    app,
    check_writable,
    end_batch,
    interruptible,
    fail,
    note_options,
)
from scribe.cli.languages import language_options
from scribe.config import load_config
from scribe.errors import ScribeError, shown
from scribe.options import ScribeOptions

DEFAULTS = ScribeOptions()


@app.command()
def draft(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Transcripts (Scribe's .transcript.json, WebVTT .vtt with voice tags, or .txt with one "
            "'LABEL: text' turn a line) or folders of them.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results (created if missing).")] = Path("out"),
    template: Annotated[
        str, typer.Option(help="Note template: a name from templates/ (soap, hp) or a .toml file.")
    ] = "soap",
    privacy: Annotated[
        Optional[bool],
        typer.Option(
            "--privacy/--no-privacy",
            help="Privacy mode (default, or as the config file says): only the note's documents are written. "
            "--no-privacy also writes the transcript it read (as Scribe's transcript JSON, RTTM and captions).",
            show_default=False,
        ),
    ] = None,
    drafter: DrafterOption = None,
    note_model: NoteModelOption = None,
    note_device: NoteDeviceOption = None,
    note_dtype: NoteDtypeOption = None,
    note_language: Annotated[
        Optional[str],
        typer.Option(
            "--note-language",
            metavar="CODE",
            help="The language the note is written in (ISO 639-1: en). Default: the transcript's (a Scribe "
            "transcript JSON's note_language, whose segments carry their translations into it), else en. "
            "Translations into another language than this one are not used.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draft visit notes from transcripts instead of recordings.

    Reads Scribe's transcript JSON (NAME.transcript.json), WebVTT with voice tags (<v Dr Lee>, <v SPEAKER_00>), or plain text with one turn a line ('Dr Lee: How are you?'; a line without a label continues the turn before it). A folder gives its .json, .vtt and .txt files (not Scribe's note and FHIR outputs; NAME.vtt is skipped where NAME.transcript.json is beside it). Speakers whose labels name a role (doctor, dr, nurse, patient, mother, ...) take it; the others' roles are inferred from what they say.

    For each transcript NAME, writes into --out what `transcribe` writes: NAME.note.md (the draft note, for clinician review), NAME.note.json (the note for machines), NAME.fhir.json (FHIR R4 DocumentReference) and, when the note has patient instructions, NAME.instructions.md and NAME.instructions.fhir.json. With --no-privacy also NAME.transcript.json, NAME.rttm and NAME.vtt.

    Exit codes: 0 all drafted; 1 template or FHIR problem, or --note-language not a code; 2 an input missing, unreadable, empty or not a transcript; 3 results cannot be written; 4 the note model (--note-model, or [note] model in the config) cannot be loaded, or the drafter does not write the note language. With several failures, the highest.
    """
    with interruptible("transcript") as progress:  # Ctrl+C or SIGTERM wherever it lands: one line
        from scribe.batch.draft import Drafting, run_drafts
        from scribe.batch.readers import TRANSCRIPT_EXTENSIONS, transcript_files, transcript_stem
        from scribe.batch.runner import expand_inputs
        from scribe.visits import VisitFactory

        kinds = ", ".join(TRANSCRIPT_EXTENSIONS)
        jobs, failures = expand_inputs(inputs, listing=transcript_files, stem=transcript_stem, kind=f"transcripts ({kinds})")
        for error in failures:
            fail(error)
        unreadable = len(failures)
        try:
            site = load_config()
            privacy_on = site.privacy if privacy is None else privacy
            note = note_options(site, drafter, note_model, note_device, note_dtype)
            langs = language_options(replace(site, note=replace(site.note, language=None)), note_language)
            drafting = Drafting.from_options(ScribeOptions(**note, **langs, template=template),
                                             note_language=langs.get("note_language"))
            check_writable(out)
            visits = VisitFactory.start(privacy_on, site)
        except ScribeError as e:
            fail(e)
            raise typer.Exit(e.exit_code)
        progress.total = len(jobs)
        for outcome in run_drafts(drafting, jobs, out=out, visits=visits):
            progress.done += 1
            done = outcome.outputs
            if done is not None:
                t = done.transcript
                kept = "privacy mode: nothing else kept" if privacy_on else f"visit {outcome.visit_id} kept, encrypted"
                roles = "roles inferred" if done.roles_inferred else "roles from the transcript"
                typer.echo(
                    f"{shown(outcome.job.path)}: {done.source.format}, {len(t.speakers)} speaker(s), {len(t.segments)} line(s), "
                    f"{roles} -> {', '.join(shown(p) for p in done.paths)} ({kept})"
                )
            for error in outcome.errors:
                failures.append(error)
                fail(error)
        end_batch(failures, len(jobs) + unreadable)
