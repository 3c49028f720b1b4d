"""``scribe transcribe --ray``: the batch on a Ray cluster (``scribe.batch.ray_runner``),
with the progress, the lines and the exit codes of a local run.

Recordings whose outputs are already complete in ``--out`` are skipped (a stopped batch
run again resumes), and the count is said. Each finished recording is one line on
stdout naming the worker and host it ran on; on a terminal a progress bar over the
recordings shows each worker's throughput. The last lines give each worker's totals.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from scribe.cli.app import BatchProgress, end_batch, fail, load_pipeline
from scribe.errors import ScribeError, shown

if TYPE_CHECKING:
    from scribe.batch.ray_runner import RemoteOutcome, WorkerInfo
    from scribe.batch.runner import Job
    from scribe.options import ScribeOptions


class Throughput:
    """Per worker since the batch began: recordings done, audio seconds processed."""

    def __init__(self, infos: Sequence[WorkerInfo]) -> None:
        self.began = time.monotonic()
        self.infos = list(infos)
        self.done = [0] * len(infos)
        self.audio = [0.0] * len(infos)

    def add(self, outcome: RemoteOutcome) -> None:
        if outcome.worker is not None and outcome.names:
            self.done[outcome.worker.index] += 1
            self.audio[outcome.worker.index] += outcome.audio_seconds

    def line(self, index: int) -> str:
        """``w1 3 (2.1/min, 38x)``: recordings, recordings per minute, audio seconds per
        wall second (real-time multiple), since the batch began."""
        minutes = max(time.monotonic() - self.began, 1e-6) / 60
        return f"w{index} {self.done[index]} ({self.done[index] / minutes:.1f}/min, {self.audio[index] / (minutes * 60):.1f}x)"

    def summary(self, index: int) -> str:
        info = self.infos[index]
        return f"worker {index} on {info.host} (node {info.node[:8]}): {self.line(index).split(' ', 1)[1]} recording(s)"


def transcribe_on_ray(
    jobs: list[Job],
    failures: list[ScribeError],
    unreadable: int,
    *,
    address: str,
    workers: int | None,
    out: Path,
    options: ScribeOptions,
    privacy: bool,
    clinicians: list[str] | None,
    progress: BatchProgress,
) -> None:
    """Run ``jobs`` on the cluster at ``address`` with ``workers`` actors (default: one
    per CPU the cluster has), print a line per recording, then end the batch as a local
    run does (``end_batch``: the highest exit code). A cluster problem is one line, exit 7."""
    from scribe.batch.ray_cluster import connect
    from scribe.batch.ray_runner import complete, run_ray, start_workers

    todo = [job for job in jobs if not complete(out, job.uri, privacy)]
    skipped = len(jobs) - len(todo)
    if skipped:
        typer.echo(f"skipped {skipped} recording(s) whose outputs are complete in {shown(out)}")
    if not todo:
        end_batch(failures, len(jobs) + unreadable)
        return
    try:
        with connect(address, cpus=workers) as cluster:
            count = workers or max(1, cluster.cpus)
            pool = start_workers(cluster, count, load=load_pipeline, options=options, privacy=privacy,
                                 clinicians=clinicians)
            progress.total = len(todo)
            meter = Throughput(pool.infos)
            bar = _bar(len(todo), meter)
            try:
                for outcome in run_ray(todo, pool, out=out):
                    progress.done += 1
                    meter.add(outcome)
                    if bar is not None:
                        bar.update(1)
                    _report(outcome, out, privacy, failures)
            finally:
                if bar is not None:
                    bar.render_finish()
            for index in range(count):
                typer.echo(meter.summary(index))
    except ScribeError as e:
        fail(e)
        raise typer.Exit(e.exit_code) from None
    end_batch(failures, len(jobs) + unreadable)


def _bar(length: int, meter: Throughput):
    # A progress bar only on a terminal, as for a local run: in a log or a pipe it would
    # be noise around the one line each recording gets.
    if not sys.stderr.isatty():
        return None
    bar = typer.progressbar(length=length, label="recordings", file=sys.stderr, show_eta=True,
                            item_show_func=lambda _: "  ".join(meter.line(i) for i in range(len(meter.infos))))
    bar.__enter__()
    return bar


def _report(outcome: RemoteOutcome, out: Path, privacy: bool, failures: list[ScribeError]) -> None:
    if outcome.names and outcome.has_speech:
        kept = "privacy mode: nothing else kept" if privacy else f"visit {outcome.visit_id} kept, encrypted"
        again = f", retried {outcome.attempts - 1}x after a worker was lost" if outcome.attempts > 1 else ""
        where = f"worker {outcome.worker.index} on {outcome.worker.host}" if outcome.worker else "?"
        typer.echo(
            f"{shown(outcome.job.path)}: {outcome.audio_seconds:.1f} s, {outcome.speakers} speaker(s), "
            f"{outcome.segments} line(s) -> {', '.join(shown(out / n) for n in outcome.names)} "
            f"({kept}; {where}{again})"
        )
    for error in outcome.errors:
        failures.append(error)
        fail(error)
