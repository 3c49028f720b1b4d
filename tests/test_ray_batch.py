"""`scribe transcribe --ray`: a batch on a real Ray runtime (started here on loopback, two
CPUs, shut down after the module), run as a user runs it: the CLI as a process.

The same recordings give the same files as a local run, apart from timing fields; a
bad file is one line and the batch goes on; a worker killed in the middle of a
recording loses nothing (the recording is retried on the other worker); a stopped batch
run again skips what it finished; a cluster beyond this machine without TLS is refused
before anything connects; the audit log says which node processed each visit.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privacy import policy
from privacy.audit_schema import AuditError, validate
from scribe.batch.files import commit, stage_all
from scribe.batch.ray_cluster import TLS_VARIABLES, check_transport, local_addresses
from scribe.batch.ray_runner import complete
from scribe.cli import app
from scribe.errors import ClusterError
from tests.conftest import REPO, SAMPLES
from tests.service_process import foreground_signals

# Fields that say when a file was made, not what it holds: the FHIR documents' `date`
# and each attachment's `creation` (the instant the document was built).
TIMING = {"date", "creation"}
NOTE_FILES = (".note.md", ".note.json", ".fhir.json")


def _cli(*args: str, data: Path, verbose: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scribe.cli", *(["-v"] if verbose else []), "transcribe", *map(str, args)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SCRIBE_DATA_DIR": str(data)}, preexec_fn=foreground_signals,
    )


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    return out, err


@pytest.fixture(scope="module")
def cluster():
    """A Ray runtime of this test process on 127.0.0.1 (dashboard off, usage stats off),
    its GCS address for the CLI's --ray; shut down after the module."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, namespace="scribe",
             object_store_memory=100 * 1024 * 1024, log_to_driver=False, logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _timeless(value):
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _audit(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]


def _copies(folder: Path, sample: str, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        shutil.copy(SAMPLES / sample, folder / f"visit{i}.wav")
    return folder


# --- with a cluster --------------------------------------------------------------------


def test_batch_on_ray_equals_a_local_run_and_reports_the_bad_file(cluster, tmp_path):
    import ray

    batch = tmp_path / "batch"
    batch.mkdir()
    for wav in sorted(SAMPLES.glob("*.wav")):
        shutil.copy(wav, batch / wav.name)
    (batch / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(64))

    local = _cli(batch, "--out", tmp_path / "local", data=tmp_path / "data-local")
    local_out, local_err = _finish(local)
    remote = _cli(batch, "--out", tmp_path / "ray", "--ray", cluster, "--workers", "2", data=tmp_path / "data")
    remote_out, remote_err = _finish(remote)

    assert remote.returncode == local.returncode == 2, (remote_err, local_err)
    errors = [line for line in remote_err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "broken.wav" in errors[0], remote_err
    local_errors = [line for line in local_err.splitlines() if line.startswith("error: ")]
    assert errors[0].split("broken.wav")[1] == local_errors[0].split("broken.wav")[1]
    assert remote_err.splitlines()[-1] == "1 of 4 input(s) failed"

    names = sorted(p.name for p in (tmp_path / "ray").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "local").iterdir())
    assert not any(n.startswith(".") for n in names)  # no staging folder left
    for name in names:
        mine, theirs = tmp_path / "ray" / name, tmp_path / "local" / name
        if name.endswith(".json"):
            assert _timeless(json.loads(mine.read_text())) == _timeless(json.loads(theirs.read_text())), name
        else:
            assert mine.read_text() == theirs.read_text(), name
    for wav in sorted(SAMPLES.glob("*.wav")):
        assert any(line.startswith(f"{batch / wav.name}: ") and "worker " in line for line in remote_out.splitlines())
    # Each worker's throughput, and both took part.
    summary = [line for line in remote_out.splitlines() if line.startswith("worker ")]
    assert len(summary) == 2, remote_out

    # The audit log names the node and host that processed each visit, metadata only.
    nodes = {n["NodeID"] for n in ray.nodes()}
    processed = [e for e in _audit(tmp_path / "data") if e["event"] == "visit_processed"]
    assert len(processed) == 3
    host = socket.gethostname().split(".")[0][:63]
    assert all(e["node"] in nodes and e["host"] == host for e in processed), processed
    opened = [e for e in _audit(tmp_path / "data") if e["event"] == "visit_opened"]
    assert len(opened) == 4 and all(e["node"] in nodes for e in opened)


def test_a_worker_killed_mid_recording_loses_nothing(cluster, tmp_path):
    import ray

    batch = _copies(tmp_path / "batch", "knee_followup.wav", 4)
    out = tmp_path / "out"
    run = _cli(batch, "--out", out, "--ray", cluster, "--workers", "2", data=tmp_path / "data", verbose=True)
    try:
        ready = {}
        for line in run.stderr:  # the driver's log: each worker's actor name and pid
            if " worker " in line and " ready: " in line:
                name, pid = line.split(" ready: ")[1].split(", pid ")
                ready[name] = int(pid.split(",")[0])
                if len(ready) == 2:
                    break
        assert len(ready) == 2, ready
        name, pid = sorted(ready.items())[0]
        victim = ray.get_actor(name, namespace="scribe")
        # Blocks until the worker says a recording is in progress on it: no sleeping.
        uri = ray.get(victim.started.remote(120.0), timeout=150)
        assert uri is not None
        os.kill(pid, signal.SIGKILL)
    except BaseException:
        run.kill()
        raise
    stdout, stderr = _finish(run)
    assert run.returncode == 0, stderr
    assert f"died processing {uri}" in stderr
    assert all(complete(out, f"visit{i}", privacy=True) for i in range(4))
    retried = [line for line in stdout.splitlines() if line.startswith(f"{batch / uri}.wav: ")]
    assert len(retried) == 1 and "retried 1x after a worker was lost" in retried[0], stdout
    assert "worker 1 on" in retried[0]  # not the worker that died under it


def test_a_stopped_batch_run_again_skips_what_it_finished(cluster, tmp_path):
    batch = _copies(tmp_path / "batch", "cough_visit.wav", 3)
    out = tmp_path / "out"
    first = _cli(batch, "--out", out, "--ray", cluster, "--workers", "1", data=tmp_path / "data")
    try:
        line = first.stdout.readline()  # one recording done and published
        assert line.startswith(f"{batch / 'visit0.wav'}: "), line
        first.send_signal(signal.SIGINT)
    except BaseException:
        first.kill()
        raise
    _, err = _finish(first)
    assert first.returncode == 130, err
    assert err.splitlines()[-1].startswith("interrupted: 1 of 3 recording(s) done"), err
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith("visit0.")}
    assert {f"visit0{s}" for s in NOTE_FILES} <= set(kept)

    again = _cli(batch, "--out", out, "--ray", cluster, "--workers", "1", data=tmp_path / "data")
    stdout, err = _finish(again)
    assert again.returncode == 0, err
    assert stdout.splitlines()[0] == f"skipped 1 recording(s) whose outputs are complete in {out}"
    assert not any(line.startswith(f"{batch / 'visit0.wav'}: ") for line in stdout.splitlines())
    assert all(complete(out, f"visit{i}", privacy=True) for i in range(3))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith("visit0.")} == kept
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # staging folders swept


# --- without a cluster -----------------------------------------------------------------


def test_a_cluster_beyond_this_machine_without_tls_is_refused_before_connecting(tmp_path):
    # 203.0.113.0/24 is TEST-NET-3 (RFC 5737), documentation only; nothing is sent to it.
    result = CliRunner().invoke(app, ["transcribe", str(SAMPLES / "cough_visit.wav"), "--out", str(tmp_path),
                                      "--ray", "203.0.113.10:6379"])
    assert result.exit_code == 7
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        "error: --ray 203.0.113.10:6379: the cluster reaches beyond this machine (203.0.113.10) and Ray's TLS is not "
        "configured (set RAY_USE_TLS=1, RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY, RAY_TLS_CA_CERT on every node); "
        "no visit was sent"
    ]
    assert list(tmp_path.iterdir()) == []


def test_tls_is_configured_only_with_all_three_files(tmp_path):
    files = {v: tmp_path / v.lower() for v in TLS_VARIABLES}
    for path in files.values():
        path.write_text("pem")
    env = {"RAY_USE_TLS": "1", **{v: str(p) for v, p in files.items()}}
    check_transport("203.0.113.10:6379", ["203.0.113.10"], env)  # configured: allowed
    check_transport("127.0.0.1:6379", ["127.0.0.1", "::1", "localhost"], {})  # loopback needs none
    # Nor this machine's own addresses, which Ray advertises for a node started on loopback.
    own = sorted(a for a in local_addresses() if not ipaddress.ip_address(a).is_loopback)
    check_transport("this machine", own, {})
    for broken in ({**env, "RAY_USE_TLS": "0"}, {k: v for k, v in env.items() if k != "RAY_TLS_CA_CERT"},
                   {**env, "RAY_TLS_SERVER_KEY": str(tmp_path / "missing")}):
        with pytest.raises(ClusterError):
            check_transport("203.0.113.10:6379", ["203.0.113.10"], broken)


def test_workers_without_ray_is_said_not_ignored(tmp_path):
    result = CliRunner().invoke(app, ["transcribe", str(SAMPLES / "cough_visit.wav"), "--out", str(tmp_path),
                                      "--workers", "2"])
    assert result.exit_code == 1 and result.stderr.startswith("error: --workers:"), result.output


def test_the_network_guard_opens_to_the_cluster_addresses_only():
    sock = socket.socket()
    try:
        assert policy.allow_cluster(["203.0.113.20", "127.0.0.1"]) == ["203.0.113.20"]
        assert policy._socket_target("socket.connect", (sock, ("203.0.113.20", 6379)))[0]
        assert policy._socket_target("socket.connect", (sock, ("203.0.113.20", 40123)))[0]  # any of its ports
        assert not policy._socket_target("socket.connect", (sock, ("203.0.113.21", 6379)))[0]
        assert not policy._socket_target("socket.getaddrinfo", ("ray-head.example", 6379))[0]
        with pytest.raises(ValueError):
            policy.allow_cluster(["ray-head.example"])  # a name would need DNS
    finally:
        sock.close()
        policy._allowed_hosts.discard("203.0.113.20")


def test_the_audit_schema_takes_a_node_and_host_and_nothing_longer():
    validate("visit_processed", "abc", {"node": "f" * 56, "host": "worker-3"})
    with pytest.raises(AuditError):
        validate("visit_processed", "abc", {"host": "patient said her knee hurts"})


def test_complete_means_every_file_a_visit_publishes(tmp_path):
    def make(*suffixes):
        for s in suffixes:
            (tmp_path / f"v{s}").write_text("x")

    make(".note.md", ".note.json")
    assert not complete(tmp_path, "v", privacy=True)
    make(".fhir.json")
    assert complete(tmp_path, "v", privacy=True)
    assert not complete(tmp_path, "v", privacy=False)  # standard mode: the transcript's too
    make(".instructions.md")  # stopped between the instructions' two files
    assert not complete(tmp_path, "v", privacy=True)
    make(".instructions.fhir.json", ".transcript.json", ".rttm", ".vtt")
    assert complete(tmp_path, "v", privacy=True) and complete(tmp_path, "v", privacy=False)


def test_staged_files_are_published_only_by_the_commit(tmp_path):
    audited = []
    staged = stage_all(tmp_path, "v", {".note.md": lambda p: p.write_text("a"), ".fhir.json": lambda p: p.write_text("b")},
                       source="v.wav", before_commit=lambda paths: audited.append(sorted(paths)))
    assert audited == [["v.fhir.json", "v.note.md"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [staged.folder.name]  # nothing published yet
    assert oct(staged.folder.stat().st_mode & 0o777) == "0o700"
    assert commit(staged) == ("v.note.md", "v.fhir.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.fhir.json", "v.note.md"]
