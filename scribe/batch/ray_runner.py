"""Running many recordings across machines on a Ray cluster, beside ``run_local``.

``ray_cluster.connect(address)`` joins or starts the cluster, refusing one that reaches
beyond this machine unless Ray's TLS is configured. ``start_workers`` makes one actor
per worker: each hardens its process for visits (``VisitFactory.start``: content log
filter, network guard opened to the cluster's own addresses only, no core dumps), loads
the pipeline once and, per job, runs the same ``process_recording`` the local runner
runs, in a visit of its own. ``run_ray`` hands out the jobs and yields one
``RemoteOutcome`` per job; ``complete`` tells a job a rerun skips.

What travels through Ray: a task carries a ``Job`` (a path and an output name) and the
output folder's path, never audio: workers read the recordings from storage they share
with the driver. A worker stages the visit's files in a private folder inside the
output folder (``files.stage_all``: written and audited there, as a local run stages
them) and returns a ``WorkerReport``: the staging folder, the names, counts and
seconds, and one-line errors; never a transcript or a note. The driver then moves the
files into place (``files.commit``, all or none). So no visit content enters Ray at all,
and the reports themselves stay out of the object store: Ray returns values up to 100 KB
inline to the caller, "avoiding going through the distributed object store" (Ray docs,
"Anti-pattern: Returning ray.put() ObjectRefs from a task harms performance and fault
tolerance"; the limit is Ray's ``max_direct_call_object_size``, 100 KiB by default),
and a report is well under 1 KiB (``REPORT_LIMIT`` checks it). Object spilling, which
writes store objects to disk, therefore never sees any of it.

A worker that dies mid-recording (its process killed, its node lost) loses only that
visit (its key died with it; the audit log's sweep records it interrupted); the job is
retried on another worker, up to ``retries`` times, while Ray restarts the dead actor
(``RESTARTS``). Logs carry metadata only: names, counts, seconds, worker numbers.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from glob import escape as glob_escape
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.batch.files import Staged, commit, discard, stage_all
from scribe.batch.ray_cluster import Cluster, import_ray
from scribe.batch.runner import Job, discarded
from scribe.batch.visit import EXPORTED_SUFFIXES, OUTPUT_SUFFIXES, process_recording
from scribe.errors import ClusterError, InputError, NoSpeechError, ScribeError, log_unforeseen

if TYPE_CHECKING:
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

logger = logging.getLogger("scribe.batch.ray_runner")

# How often Ray restarts a worker actor that died (its pipeline loaded again), and how
# often a recording whose worker died is tried again on another worker. Two deaths on
# one recording are a pattern (a file that exhausts memory), not bad luck.
RESTARTS = 3
RETRIES = 2
# A report larger than this would no longer be returned inline (Ray's
# max_direct_call_object_size default, 100 KiB): refused rather than put in the store.
REPORT_LIMIT = 100 * 1024
# The env variables naming this site's files that a worker on this machine must share
# with the driver (a worker elsewhere reads them on its own node: set them to paths
# valid there, or leave them unset).
SITE_VARIABLES = ("SCRIBE_DATA_DIR", "SCRIBE_CONFIG", "SCRIBE_AUDIT_LOG", "SCRIBE_SITE_KEY", "SCRIBE_CACHE_DIR")


@dataclass(frozen=True)
class WorkerInfo:
    """One worker actor: its number in the batch, its process id, its node (Ray node
    id) and host name (first label)."""

    index: int
    pid: int
    node: str
    host: str


@dataclass(frozen=True)
class Failure:
    """A one-line error as it crosses Ray (exceptions of ours do not pickle back with
    their exit codes): the message and the exit code."""

    message: str
    exit_code: int

    def error(self) -> ScribeError:
        error = ScribeError(self.message)
        error.exit_code = self.exit_code
        return error


@dataclass(frozen=True)
class WorkerReport:
    """What a worker returns for one job: metadata only. ``staged``: the visit's files,
    staged in the output folder, for the driver to commit (None when the visit failed);
    ``audio_seconds``, ``speakers``, ``segments``; ``seconds``: wall time on the worker;
    ``failure``: why the visit failed (it was discarded)."""

    job: Job
    worker: WorkerInfo
    visit_id: str | None
    staged: Staged | None
    audio_seconds: float = 0.0
    speakers: int = 0
    segments: int = 0
    seconds: float = 0.0
    failure: Failure | None = None


@dataclass(frozen=True)
class RemoteOutcome:
    """What became of one job on the cluster, as ``RecordingOutcome`` is for a local run,
    without the visit's content (which never reaches the driver). ``names``: the files
    published into the output folder; ``attempts``: how many workers it was given
    (more than one when a worker died under it); ``errors``: one-line errors (the
    visit's failure, no speech (exit 5), or the files not published)."""

    job: Job
    worker: WorkerInfo | None
    visit_id: str | None
    names: tuple[str, ...] = ()
    audio_seconds: float = 0.0
    speakers: int = 0
    segments: int = 0
    seconds: float = 0.0
    attempts: int = 1
    errors: tuple[ScribeError, ...] = ()

    @property
    def has_speech(self) -> bool:
        return self.segments > 0


# --- the worker ----------------------------------------------------------------------------


class RecordingWorker:
    """One worker's state (wrapped as a Ray actor by ``start_workers``): a process
    hardened for visits, its pipeline loaded once. Never raises out of a method: a
    failure is a ``Failure`` in what it returns."""

    def __init__(self, index: int, load: Callable[[ScribeOptions], Pipeline], options: ScribeOptions,
                 privacy: bool, clinicians: Sequence[str] | None, addresses: Sequence[str], env: dict[str, str]):
        import ray

        self.failure: Failure | None = None
        self.current: str | None = None
        self._started = threading.Event()
        os.environ.update(env)
        node = ray.get_runtime_context().get_node_id()
        host = socket.gethostname().split(".")[0][:63] or "unknown"
        self.info = WorkerInfo(index, os.getpid(), node, host)
        try:
            from privacy.policy import allow_cluster
            from scribe.config import load_config
            from scribe.speakers.enrolled import load_voices
            from scribe.visits import VisitFactory

            self.visits = VisitFactory.start(privacy, load_config())
            self.visits.where = {"node": node[:64], "host": host}
            allow_cluster(addresses)
            self.pipeline = load(options)
            self.pipeline.voices = tuple(load_voices(list(clinicians) if clinicians else None))
        except ScribeError as e:
            self.failure = Failure(f"worker {index} on {host}: {e}", e.exit_code)
        except Exception as e:
            log_unforeseen(logger, "worker start failed", e)
            self.failure = Failure(f"worker {index} on {host}: could not start ({type(e).__name__})", 1)
        logger.info("worker %d: pid %d on node %s (%s)", index, self.info.pid, node[:12], host)

    def ready(self) -> tuple[WorkerInfo, Failure | None]:
        return self.info, self.failure

    def peak_rss_mb(self) -> float:
        """This worker process's peak resident memory, MiB (``getrusage`` ``ru_maxrss``,
        KiB on Linux)."""
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def started(self, timeout: float) -> str | None:
        """Block until a recording is in progress (at most ``timeout`` seconds); its
        output name, or None. Runs beside ``process`` (its own concurrency group)."""
        return self.current if self._started.wait(timeout) else None

    def process(self, job: Job, out: str) -> WorkerReport:
        """``process_recording`` for one job in a visit of its own, its files staged (not
        published) in ``out``: see the module docstring."""
        begun = time.monotonic()
        staged: list[Staged] = []

        def stage(out: Path, uri: str, writes: Any, *, source: str, before_commit: Any) -> tuple[str, ...]:
            staged.append(stage_all(out, uri, writes, source=source, before_commit=before_commit))
            return staged[-1].names

        visit_id = None
        self.current = job.uri
        self._started.set()
        try:
            with self.visits.open() as visit:
                visit_id = visit.visit_id
                outputs = process_recording(self.pipeline, job.path, uri=job.uri, out=Path(out), visit=visit,
                                            publish=stage)
            result = outputs.result
            report = WorkerReport(job, self.info, visit_id, staged[0], result.transcript.duration,
                                  len(result.annotation.labels()), len(result.transcript.segments),
                                  time.monotonic() - begun)
        except ScribeError as e:
            report = self._failed(job, visit_id, staged, discarded(e) if self.visits.privacy else e, begun)
        except Exception as e:  # one broken file must not stop the worker
            log_unforeseen(logger, "unexpected failure", e)
            error = InputError(job.path, f"could not be processed ({type(e).__name__})")
            report = self._failed(job, visit_id, staged, discarded(error) if self.visits.privacy else error, begun)
        finally:
            self.current = None
            self._started.clear()
        if len(pickle.dumps(report)) > REPORT_LIMIT:  # never: a report is names and counts
            error = ScribeError(f"{job.path}: the worker's report would not be returned inline; not published")
            report = self._failed(job, visit_id, staged, error, begun)
        logger.info("worker %d: %s done in %.1f s", self.info.index, job.uri, report.seconds)
        return report

    def _failed(self, job: Job, visit_id: str | None, staged: list[Staged], error: ScribeError,
                begun: float) -> WorkerReport:
        for s in staged:  # staged, then the visit failed to close: nothing is published
            discard(s)
        return WorkerReport(job, self.info, visit_id, None, seconds=time.monotonic() - begun,
                            failure=Failure(str(error), error.exit_code))


def _actor_class(ray: Any) -> Any:
    class Worker(RecordingWorker):
        @ray.method(concurrency_group="status")
        def started(self, timeout: float) -> str | None:
            return super().started(timeout)

    # One CPU each; restarted by Ray when its process dies; a task of a dead worker is
    # not re-run by Ray (max_task_retries=0): run_ray retries it on another worker.
    return ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=0,
                      concurrency_groups={"status": 1})(Worker)


@dataclass
class Workers:
    """The batch's worker actors (``handles``) and what each reported at start."""

    handles: list[Any]
    infos: list[WorkerInfo]
    batch: str = field(default_factory=lambda: os.urandom(4).hex())


def start_workers(cluster: Cluster, count: int, *, load: Callable[[ScribeOptions], Pipeline],
                  options: ScribeOptions, privacy: bool, clinicians: Sequence[str] | None = None) -> Workers:
    """``count`` worker actors (named ``scribe-BATCH-worker-N`` in namespace ``scribe``),
    each with its pipeline loaded by ``load(options)`` (the command line's
    ``load_pipeline``: the same code, not a copy) and the enrolled voices ``clinicians``
    names (None: every one enrolled on its node). Waits until all are ready. Raises the
    first worker's one-line error (a model that does not load: exit 4)."""
    ray = import_ray()
    env = {k: os.environ[k] for k in SITE_VARIABLES if os.environ.get(k)}
    actor = _actor_class(ray)
    batch = os.urandom(4).hex()
    handles = [
        actor.options(name=f"scribe-{batch}-worker-{i}").remote(
            i, load, options, privacy, list(clinicians) if clinicians else None, cluster.addresses, env
        )
        for i in range(count)
    ]
    infos = []
    try:
        for info, failure in ray.get([h.ready.remote() for h in handles]):
            if failure is not None:
                raise failure.error()
            infos.append(info)
    except ray.exceptions.RayError as e:
        raise ClusterError(f"--ray {cluster.address}: a worker could not start ({type(e).__name__})") from None
    for info in infos:
        logger.info("worker %d ready: scribe-%s-worker-%d, pid %d, host %s", info.index, batch, info.index,
                    info.pid, info.host)
    return Workers(handles, infos, batch)


# --- the batch -----------------------------------------------------------------------------


def complete(out: Path, uri: str, privacy: bool) -> bool:
    """Whether a job's outputs are all in ``out`` already (a rerun skips it): the note's
    ``.note.md``, ``.note.json`` and ``.fhir.json``, in standard mode the transcript's
    ``.transcript.json``, ``.rttm`` and ``.vtt`` too, and the instructions' FHIR document
    whenever their markdown is there (files are published in ``OUTPUT_SUFFIXES`` order,
    so a run stopped part-way through publishing leaves a visit incomplete)."""
    needed = [s for s in (EXPORTED_SUFFIXES if privacy else OUTPUT_SUFFIXES) if not s.startswith(".instructions")]
    if (out / f"{uri}.instructions.md").exists():
        needed.append(".instructions.fhir.json")
    return all((out / f"{uri}{s}").is_file() for s in needed)


def sweep_staging(out: Path, uris: Sequence[str]) -> int:
    """Remove staging folders a stopped batch left in ``out`` for these output names
    (``.URI.XXXXXXXX``, made by ``files.stage_all``: a worker killed while staging, or a
    driver stopped before it committed). Returns how many were removed."""
    removed = 0
    for uri in uris:
        for folder in out.glob(f".{glob_escape(uri)}.*"):
            if folder.is_dir() and not folder.is_symlink() and len(folder.name) == len(uri) + 10:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    if removed:
        logger.info("removed %d staging folder(s) left by a stopped batch", removed)
    return removed


def run_ray(jobs: Sequence[Job], workers: Workers, *, out: Path, retries: int = RETRIES) -> Iterator[RemoteOutcome]:
    """Process ``jobs`` on ``workers``, one job per worker at a time, and yield one
    outcome per job as it finishes (not in job order). The driver commits each visit's
    staged files into ``out`` (absolute, on storage every worker shares). A job whose
    worker died is given to another worker (one that has not died under it, when there
    is one), at most ``retries`` more times; the dead worker is used again once Ray has
    restarted it. Never raises for one recording."""
    import ray

    out = out.resolve()
    sweep_staging(out, [job.uri for job in jobs])
    pending = deque((job, 1, frozenset[int]()) for job in jobs)
    running: dict[Any, tuple[int, Job, int, frozenset[int]]] = {}
    reviving: dict[Any, int] = {}
    idle = list(range(len(workers.handles)))
    alive = set(idle)
    while pending or running:
        for choice in list(idle):
            # The first job this worker has not died under; one it has died under only
            # when no live worker is left that has not.
            k = next((k for k, (_, _, died_on) in enumerate(pending)
                      if choice not in died_on or not alive - died_on), None)
            if k is None:
                continue
            job, attempt, died_on = pending[k]
            del pending[k]
            idle.remove(choice)
            ref = workers.handles[choice].process.remote(Job(job.path.resolve(), job.uri), str(out))
            running[ref] = (choice, job, attempt, died_on)
        if not running and not reviving:
            for job, attempt, _ in pending:  # every worker is gone
                error = ClusterError(f"{job.path}: not processed, no worker left on the cluster")
                yield RemoteOutcome(job, None, None, attempts=attempt - 1, errors=(error,))
            return
        ready, _ = ray.wait(list(running) + list(reviving), num_returns=1)  # jobs may wait for a worker
        ref = ready[0]
        if ref in reviving:
            index = reviving.pop(ref)
            try:
                info, failure = ray.get(ref)
            except ray.exceptions.RayError:
                info, failure = None, Failure("restarts exhausted", 7)
            if failure is None:
                workers.infos[index] = info
                idle.append(index)
                logger.info("worker %d back: pid %d", index, info.pid)
            else:
                alive.discard(index)
                logger.warning("worker %d lost for good", index)
            continue
        index, job, attempt, died_on = running.pop(ref)
        try:
            report: WorkerReport = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # a bug of ours in the worker: one line, go on
            idle.append(index)
            error = InputError(job.path, f"could not be processed ({type(e.cause).__name__})")
            yield RemoteOutcome(job, workers.infos[index], None, attempts=attempt, errors=(error,))
            continue
        except ray.exceptions.RayActorError:
            logger.warning("worker %d died processing %s (attempt %d)", index, job.uri, attempt)
            reviving[workers.handles[index].ready.remote()] = index
            if attempt <= retries:
                pending.appendleft((job, attempt + 1, died_on | {index}))
            else:
                error = InputError(job.path, f"not processed: its worker died {attempt} times")
                yield RemoteOutcome(job, workers.infos[index], None, attempts=attempt, errors=(error,))
            continue
        idle.append(index)
        yield _published(job, report, out, attempt)


def _published(job: Job, report: WorkerReport, out: Path, attempt: int) -> RemoteOutcome:
    """The driver's half of a visit's output: commit what the worker staged. ``job`` as
    the user named it (messages show the path as given)."""
    base = RemoteOutcome(job, report.worker, report.visit_id, (), report.audio_seconds, report.speakers,
                         report.segments, report.seconds, attempt)
    if report.failure is not None or report.staged is None:
        error = report.failure.error() if report.failure else ScribeError(f"{job.path}: nothing was staged")
        return replace(base, errors=(error,))
    try:
        names = commit(report.staged)
    except ScribeError as e:
        return replace(base, errors=(e,))
    if not report.segments:
        return replace(base, names=names, errors=(
            NoSpeechError(job.path, f"no speech detected; {out}/{job.uri}.note.md says nothing was captured"),))
    return replace(base, names=names)
