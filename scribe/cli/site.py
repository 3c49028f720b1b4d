"""The site's own records: ``scribe audit`` (the audit log), ``scribe recover`` (visits a
crash interrupted, standard mode) and ``scribe purge`` (kept visits past retention)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from privacy import SAMPLE_RATE
from scribe.cli.app import app, check_writable, fail, site_data_dir
from scribe.errors import ScribeError

if TYPE_CHECKING:
    import numpy as np


@app.command()
def audit(
    verify_only: Annotated[bool, typer.Option("--verify", help="Only check the log (its chain, MACs and head record); exit 1 if it fails.")] = False,
) -> None:
    """Print the audit log: what happened to each visit (times, durations, models,
    hashes of exported documents), never what was said. For a compliance review.

    Exit 1 when the log fails verification, with one line on stderr: the log's path,
    the first problem's line and rule, and how many more there are."""
    from privacy.audit import AuditLog, format_table

    site_data_dir()
    log = AuditLog()
    checked = log.status()
    problems = list(checked.problems)
    if not verify_only:
        typer.echo(format_table(log.read(), problems))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        typer.echo(f"error: {log.path}: {problems[0]}{more}", err=True)
        raise typer.Exit(1)
    if verify_only:
        # Kept outside the machine, this line shows a later rollback or deletion.
        last = f"; last line sha256 {checked.last}" if checked.last else ""
        typer.echo(f"{log.path}: intact: {checked.lines} line(s){last}")


@app.command()
def recover(
    visit_id: Annotated[Optional[str], typer.Argument(help="The interrupted visit to restore; omit to list them.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the restored audio and transcript.")] = Path("recovered"),
) -> None:
    """List visits a crash interrupted (standard mode), or restore one: its audio as
    VISIT.wav and its transcript lines as VISIT.txt in --out."""
    from privacy.audit import AuditLog
    from scribe.batch.files import write_all, write_bytes, write_text
    from scribe.visits import open_store

    try:
        site_data_dir()
        store = open_store()
        if visit_id is None:
            found = store.interrupted()
            for v in found:
                typer.echo(f"{v.visit_id}  {v.created:%Y-%m-%d %H:%M}  {v.audio_seconds:.1f} s audio, "
                           f"{v.transcript_records} transcript line(s)")
            if not found:
                typer.echo("no interrupted visits")
            return
        summary = next((v for v in store.visits() if v.visit_id == visit_id), None)
        if summary is not None and summary.writer_alive:
            raise ScribeError(f"visit {visit_id}: still being recorded by a running scribe; not restored")
        visit = store.recover(visit_id)
        check_writable(out)
        wav = _wav_bytes(visit.audio)
        write_all(out, visit_id, {
            ".wav": lambda p: write_bytes(wav, p),
            ".txt": lambda p: write_text("".join(line + "\n" for line in visit.transcript), p),
        }, source=visit_id)
        store.mark_recovered(visit_id)
        AuditLog().record("visit_recovered", visit_id, audio_seconds=round(visit.audio.size / SAMPLE_RATE, 3))
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(f"restored visit {visit_id}: {visit.audio.size / SAMPLE_RATE:.1f} s -> {out}/{visit_id}.wav, {out}/{visit_id}.txt")


@app.command()
def purge(
    older_than: Annotated[
        Optional[int], typer.Option("--older-than", min=0, help="Delete kept visits older than this many days (default: the config's retention_days).")
    ] = None,
) -> None:
    """Delete kept visits (standard mode) older than the retention period."""
    from datetime import timedelta

    from privacy.audit import AuditLog
    from scribe.visits import open_store

    try:
        site = site_data_dir()
        days = older_than if older_than is not None else site.retention_days
        if days is None:
            raise ScribeError("purge: give --older-than DAYS or set retention_days in the config file")
        removed = open_store().purge(timedelta(days=days))
        if removed:
            AuditLog().record("visits_purged", "*", visits=len(removed), reason="user_request")
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code)
    typer.echo(f"deleted {len(removed)} visit(s) older than {days} day(s)")


def _wav_bytes(audio: np.ndarray) -> bytes:
    """Mono float32 samples at 16 kHz in [-1, 1] as a 16-bit PCM WAV file."""
    import io
    import wave

    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
