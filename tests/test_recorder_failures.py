"""The recorder's failure paths (issue 13 items 1-3), against `scribe serve` as a process:
the open visits are listed (state, age, recorder), and a visit no recorder ever connects
to is reaped (``Limits.connect_seconds``).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time

import pytest

from scribe.service.client import ServiceClient, ServiceError
from tests.conftest import REPO
from tests.service_process import ServiceProcess


class ShortConnectService(ServiceProcess):
    """`scribe -v serve` whose reaper gives a recorder CONNECT_SECONDS to connect."""

    def __enter__(self) -> "ShortConnectService":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.recorder_failures_serve", "-v", "serve", *self.args],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.client = ServiceClient.from_url(self._wait_for_url())
        return self


def _env(tmp) -> dict[str, str]:
    (tmp / "tmp").mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp / "tmp"), "SCRIBE_DATA_DIR": str(tmp / "data")}


def _visits(client: ServiceClient) -> list[dict]:
    return client.request("GET", "/api/visits")["visits"]


def _until(condition, what: str, timeout: float = 60.0):
    """Poll ``condition()`` until it returns something truthy (the reaper acts on its own
    clock); fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_open_visits_are_listed_and_one_no_recorder_connects_to_is_reaped(tmp_path):
    with ShortConnectService(env=_env(tmp_path)) as svc:
        client = svc.client
        health = client.request("GET", "/api/health")
        assert re.fullmatch(r"[0-9a-f]{16}", health["instance"])
        abandoned = client.request("POST", "/api/visits", {})
        assert abandoned["instance"] == health["instance"]
        streamed = client.request("POST", "/api/visits", {})["visit"]

        async def connected_listing() -> list[dict]:
            async with client.connect(streamed) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
                return _visits(client)

        listing = asyncio.run(connected_listing())
        assert [(v["visit"], v["state"], v["recorder"]) for v in listing] == [
            (abandoned["visit"], "recording", False), (streamed, "recording", True)]
        for v in listing:
            assert set(v) == {"visit", "state", "privacy", "template", "seconds", "age_seconds", "recorder"}
            assert isinstance(v["age_seconds"], int) and v["age_seconds"] >= 0
        assert client.request("GET", f"/api/visits/{streamed}")["age_seconds"] >= 0
        with pytest.raises(ServiceError) as refused:  # token-guarded like the rest
            ServiceClient(client.base, "x" * 43).request("GET", "/api/visits")
        assert refused.value.status == 401

        # The visit nobody connected to goes; the one whose recorder left stays (it may
        # come back: a dropped connection does not end a visit).
        left = _until(lambda: (v := _visits(client)) and len(v) == 1 and v, "the abandoned visit reaped")
        assert [(v["visit"], v["state"], v["recorder"]) for v in left] == [(streamed, "recording", False)]
        assert client.request("GET", "/api/health")["visits"] == 1
    assert f"visit {abandoned['visit']} ended (timeout)" in svc.stderr
    assert f"visit {streamed} ended (service_stopped)" in svc.stderr
