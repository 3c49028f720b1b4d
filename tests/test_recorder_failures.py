"""The recorder's failure paths (issue 13 items 1-3), against `scribe serve` as a process
and the page in Debian's headless Chromium with a fake microphone:

- a refused microphone opens no visit, and a visit no recorder ever connects to is
  reaped (``Limits.connect_seconds``);
- a service restarted mid-visit: the page says the visit was lost and Start works again;
- the open visits are listed (state, age, recorder) with Discard; a duplicated tab on a
  recording visit says so and offers no Start.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scribe.service.client import ServiceClient, ServiceError
from tests.conftest import REPO
from tests.service_process import ServiceProcess, poll_until, foreground_signals
from tests.test_recorder_browser import fake_mic

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

DENIED = ("Could not start: the browser blocked the microphone for this page. Allow it from the "
          "site-settings icon left of the address (Microphone: Allow), then press Start again.")
RESTARTED = "The capture service restarted; this visit was lost."
ELSEWHERE = "This visit is recording in another tab. Continue there, or reload this tab once that one is closed."


class ShortConnectService(ServiceProcess):
    """`scribe -v serve` whose reaper gives a recorder CONNECT_SECONDS to connect."""

    def __enter__(self) -> "ShortConnectService":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.recorder_failures_serve", "-v", "serve", *self.args],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=foreground_signals,
        )
        self.client = ServiceClient.from_url(self._wait_for_url())
        return self


def _env(tmp: Path) -> dict[str, str]:
    (tmp / "tmp").mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp / "tmp"), "SCRIBE_DATA_DIR": str(tmp / "data")}


def _visits(client: ServiceClient) -> list[dict]:
    return client.request("GET", "/api/visits")["visits"]


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
        left = poll_until(lambda: (v := _visits(client)) and len(v) == 1 and v, "the abandoned visit reaped", interval=0.2)
        assert [(v["visit"], v["state"], v["recorder"]) for v in left] == [(streamed, "recording", False)]
        assert client.request("GET", "/api/health")["visits"] == 1
    assert f"visit {abandoned['visit']} ended (timeout)" in svc.stderr
    assert f"visit {streamed} ended (service_stopped)" in svc.stderr


# -- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Debian's headless Chromium with a fake microphone playing a sample visit, and no
    fake permission prompt: a context is refused the microphone unless granted it."""
    if CHROMIUM is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    wav = fake_mic(tmp_path_factory.mktemp("failures") / "visit.wav")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
        ])
        yield browser
        browser.close()


class Page:
    """A recorder page in its own browser context, collecting JavaScript errors and the
    console's error lines; dialogs (confirm) answered ``accept`` (changeable)."""

    def __init__(self, browser, url: str, *, microphone: bool = True, session: dict | None = None):
        self.context = browser.new_context(permissions=["microphone"] if microphone else [], bypass_csp=True,
                                           accept_downloads=True)
        if session:  # a duplicated tab: the same session storage as the one it copies
            self.context.add_init_script(
                "".join(f"sessionStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in session.items()))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.accept = True
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.goto(url)
        self.page.wait_for_selector("#privacy.badge.privacy")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept() if self.accept else dialog.dismiss()

    def state(self) -> str:
        return self.page.get_attribute("body", "data-state")

    def message(self) -> str:
        return self.page.inner_text("#message")

    def enabled(self) -> dict[str, bool]:
        return {b: self.page.is_enabled(f"#{b}") for b in ("start", "pause", "stop", "discard", "sign")}

    def listed(self) -> list[str]:
        return self.page.locator("#open-visits-list li .what").all_inner_texts()

    def wait_message(self, text: str, timeout: float = 120_000) -> None:
        self.page.wait_for_function(f"document.getElementById('message').textContent === {json.dumps(text)}",
                                    timeout=timeout)

    def close(self) -> None:
        self.context.close()


def _url(svc: ServiceProcess) -> str:
    return f"{svc.client.base}/?token={svc.client.token}"


def test_denied_microphone_open_visits_and_a_second_tab(chromium, tmp_path):
    with ServiceProcess(env=_env(tmp_path)) as svc:
        client = svc.client
        # 1. The microphone refused, ten times (more than the 8 visits the service holds):
        # each says how to allow it, and nothing is left open on the service.
        denied = Page(chromium, _url(svc), microphone=False)
        for _ in range(10):
            denied.page.click("#start")
            denied.page.wait_for_selector("body[data-state='idle'] #message.error")
            assert denied.message() == DENIED
            assert _visits(client) == []
        assert denied.enabled()["start"] and denied.page.is_hidden("#open-visits")
        assert denied.errors == []
        denied.close()

        # A working microphone then starts at once.
        first = Page(chromium, _url(svc))
        first.page.click("#start")
        first.page.wait_for_selector("body[data-state='recording']", timeout=60_000)
        listing = _visits(client)
        assert [(v["state"], v["recorder"]) for v in listing] == [("recording", True)]
        visit = listing[0]["visit"]
        assert first.page.is_hidden("#open-visits")  # its own visit is the page itself

        # 3. A duplicated tab (the same session storage) on the recording visit: says so,
        # and nothing on it can record.
        session = first.page.evaluate("({...sessionStorage})")
        assert session["scribe.visit"] == visit
        second = Page(chromium, f"{svc.client.base}/", session=session)
        second.wait_message(ELSEWHERE, timeout=30_000)
        assert second.state() == "elsewhere"
        assert second.enabled() == {"start": False, "pause": False, "stop": False, "discard": False, "sign": False}
        assert re.fullmatch(r"Recording · opened \d+ s ago · open in another tab", second.listed()[0])
        assert first.state() == "recording"  # the tab that records is untouched
        second.close()

        # The printed URL opened again: the visit is listed with Discard; Start asks first
        # (declined: nothing opened), and the list's Discard ends the other tab's visit.
        third = Page(chromium, _url(svc))
        third.page.wait_for_function("document.querySelectorAll('#open-visits-list li').length === 1")
        assert re.fullmatch(r"Recording · opened \d+ s ago · open in another tab", third.listed()[0])
        third.accept = False
        third.page.click("#start")
        third.page.wait_for_selector("body[data-state='idle']")
        assert third.dialogs == ["A visit is recording in another tab. Start a second visit here as well?"]
        assert [v["visit"] for v in _visits(client)] == [visit]
        third.accept = True
        third.page.click("#open-visits-list li button")
        assert third.dialogs[-1] == "Discard this visit? It is open in another tab. Nothing of it will be kept."
        third.wait_message("Visit discarded: nothing of it is retained.")
        assert _visits(client) == []
        third.page.wait_for_selector("#open-visits", state="hidden")
        # The recording tab hears it, lets the microphone go and can start again.
        first.wait_message("This visit was discarded elsewhere. Visit discarded: nothing of it is retained.")
        assert first.state() == "idle"
        assert first.enabled() == {"start": True, "pause": False, "stop": False, "discard": False, "sign": False}
        assert first.page.evaluate("sessionStorage.getItem('scribe.visit')") is None
        third.close()

        # A signed, exported note stays listed with Discard (and the bar's Discard works).
        first.page.click("#start")
        first.page.wait_for_selector("body[data-state='recording']", timeout=60_000)
        first.page.wait_for_function("document.querySelectorAll('#transcript li').length >= 1", timeout=120_000)
        first.page.click("#stop")
        first.page.wait_for_selector("body[data-state='review']", timeout=120_000)
        first.page.click("#tab-edit")
        first.page.fill("#editor", "## Subjective\n\nCough for a week, reviewed with the patient.\n")
        first.page.click("#sign")
        first.page.wait_for_selector("body[data-state='signed']", timeout=60_000)
        first.page.click("#export")
        first.page.wait_for_selector("body[data-state='done']")
        first.page.wait_for_function(
            "[...document.querySelectorAll('#open-visits-list li')].some(li => li.dataset.state === 'signed')")
        assert re.fullmatch(r"Signed note · opened \d+ s ago · this tab", first.listed()[0])
        assert [v["state"] for v in _visits(client)] == ["signed"]
        assert first.enabled()["discard"]
        first.page.click("#open-visits-list li button")
        first.page.wait_for_selector("body[data-state='idle']")
        assert first.message() == "Visit discarded: nothing of it is retained."
        assert _visits(client) == []
        first.page.wait_for_selector("#open-visits", state="hidden")
        assert first.errors == []
        first.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_service_restart_mid_visit_says_the_visit_was_lost(chromium, tmp_path):
    env, port = _env(tmp_path), str(_free_port())
    before = ServiceProcess("--port", port, env=env).__enter__()
    try:
        page = Page(chromium, _url(before))
        page.page.click("#start")
        page.page.wait_for_function("document.querySelectorAll('#transcript li').length >= 1", timeout=120_000)
        old = before.client.request("GET", "/api/health")["instance"]
        before.proc.kill()  # the service dies mid-visit (privacy mode: the visit with it)
        page.page.wait_for_selector("body[data-state='reconnecting']", timeout=30_000)
        assert page.message().startswith("Connection to the capture service lost (")
        assert page.message().endswith("Nothing is recorded until it is back; reconnecting…")
        assert page.enabled() == {"start": False, "pause": False, "stop": False, "discard": True, "sign": False}
        # The meter stops with the next audio block (128 ms) after the connection went.
        page.page.wait_for_function("document.getElementById('level').style.width === '0px'")
    finally:
        before.stop()
    with ServiceProcess("--port", port, env=env) as after:
        assert after.client.token == before.client.token
        assert after.client.request("GET", "/api/health")["instance"] != old
        page.wait_message(RESTARTED)
        assert page.state() == "idle"
        assert page.enabled() == {"start": True, "pause": False, "stop": False, "discard": False, "sign": False}
        assert page.page.evaluate("sessionStorage.getItem('scribe.visit')") is None
        assert _visits(after.client) == []
        # Start works again, and Stop finishes.
        page.page.click("#start")
        page.page.wait_for_selector("body[data-state='recording']", timeout=60_000)
        assert [(v["state"], v["recorder"]) for v in _visits(after.client)] == [("recording", True)]
        page.page.click("#stop")
        page.page.wait_for_selector("body[data-state='review']", timeout=120_000)
        assert page.errors == []
        # The console's errors are the browser's own lines about requests made while the
        # service was down; none from the page's script.
        assert all("ERR_CONNECTION_REFUSED" in line or "WebSocket connection to" in line
                   for line in page.console), page.console
        page.close()
