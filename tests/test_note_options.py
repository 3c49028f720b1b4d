"""How a note is drafted reaches ``ScribeOptions`` from every command: ``--drafter``,
``--note-model``, ``--note-device`` and ``--note-dtype`` on transcribe, draft, serve and
record, else the site config's [note] table, else the defaults; and a config naming an
unknown drafter, a bad device or a missing model is one line and its exit code. No model
loads here: the commands are stopped where they build their options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scribe.cli import app
from scribe.cli.app import NoteDevice, NoteDtype, note_options
from scribe.config import ConfigError, NoteConfig, SiteConfig, load_config
from scribe.errors import ScribeError
from scribe.registry import UnknownBackendError
from tests.conftest import REPO

COMMANDS = ("transcribe", "draft", "serve", "record")


def write_config(path: Path, note: str) -> Path:
    path.write_text("[note]\n" + note, encoding="utf-8")
    return path


def test_config_note_table(tmp_path):
    cfg = write_config(tmp_path / "c.toml", 'drafter = "llm"\nmodel = "~/models/g.gguf"\ndevice = "cpu"\ndtype = "bfloat16"\n')
    site = load_config(cfg)
    assert site.note == NoteConfig("llm", str(Path("~/models/g.gguf").expanduser()), "cpu", "bfloat16")
    assert site.path == cfg
    (tmp_path / "empty.toml").write_text("")
    assert load_config(tmp_path / "empty.toml").note == NoteConfig()
    with pytest.raises(ConfigError) as e:  # named but missing: refused, not defaults
        load_config(tmp_path / "absent.toml")
    assert str(e.value) == f"{tmp_path / 'absent.toml'}: not found (SCRIBE_CONFIG names it)"
    for body, reason in [
        ('device = "tpu"\n', "note.device 'tpu' is not one of auto, cpu, cuda"),
        ('dtype = "int8"\n', "note.dtype 'int8' is not one of auto, float32, float16, bfloat16"),
        ('temperature = 0.7\n', "unknown setting(s) in [note]: temperature"),
        ("model = 3\n", "note.model must be a non-empty string"),
    ]:
        with pytest.raises(ConfigError) as e:
            load_config(write_config(tmp_path / "bad.toml", body))
        assert str(e.value) == f"{tmp_path / 'bad.toml'}: {reason}" and e.value.exit_code == 1
    (tmp_path / "flat.toml").write_text('note = "llm"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="note must be a table"):
        load_config(tmp_path / "flat.toml")


def test_options_override_the_config_which_overrides_the_defaults(tmp_path):
    none = note_options(SiteConfig(), None, None, None, None)
    assert none == {"drafter": "extractive", "note_model": None, "note_device": "auto", "note_dtype": "auto"}
    site = SiteConfig(note=NoteConfig("llm", "/m/g.gguf", "cpu", "float16"), path=tmp_path / "c.toml")
    assert note_options(site, None, None, None, None) == {
        "drafter": "llm", "note_model": "/m/g.gguf", "note_device": "cpu", "note_dtype": "float16"}
    assert note_options(site, "audio-llm", "/other", NoteDevice.cuda, NoteDtype.bfloat16) == {
        "drafter": "audio-llm", "note_model": "/other", "note_device": "cuda", "note_dtype": "bfloat16"}
    # the config's model with the embedded drafter chosen for one command: fine (not used)
    assert note_options(site, "extractive", None, None, None)["drafter"] == "extractive"
    # --note-model given with the embedded drafter: said, not silently ignored
    with pytest.raises(UnknownBackendError, match="^--note-model is the model of a model drafter"):
        note_options(SiteConfig(), None, "/m/g.gguf", None, None)
    with pytest.raises(ConfigError) as e:  # from the config: the file is named
        note_options(SiteConfig(note=NoteConfig(drafter="gpt"), path=tmp_path / "c.toml"), None, None, None, None)
    assert str(e.value).startswith(f"{tmp_path / 'c.toml'}: note.drafter 'gpt': no such drafter backend (choose from: ")
    with pytest.raises(UnknownBackendError, match="^--drafter gpt: no such drafter backend"):  # from the option
        note_options(SiteConfig(), "gpt", None, None, None)


class Captured(ScribeError):
    """Raised by the stand-in ScribeOptions: the command stops before anything loads."""


@pytest.fixture
def captured(monkeypatch):
    seen: list[dict] = []

    def fake(**kwargs):
        seen.append(kwargs)
        raise Captured("options captured")

    for module in ("scribe.cli.transcribe", "scribe.cli.draft", "scribe.cli.live"):
        monkeypatch.setattr(f"{module}.ScribeOptions", fake)
    return seen


def _args(command: str, tmp_path: Path) -> list[str]:
    visit = tmp_path / "visit.txt"
    visit.write_text("Dr Lee: Any fever?\nMaria: No fever.\n", encoding="utf-8")
    return {
        "transcribe": ["transcribe", str(REPO / "samples" / "cough_visit.wav"), "--out", str(tmp_path / "out")],
        "draft": ["draft", str(visit), "--out", str(tmp_path / "out")],
        "serve": ["serve", "--port", "0"],
        "record": ["record", "--out", str(tmp_path / "out")],
    }[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_the_note_options(command, tmp_path, captured, monkeypatch):
    runner = CliRunner()
    help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
    for option in ("--drafter", "--note-model", "--note-device", "--note-dtype"):
        assert option in help_text, (command, option)

    (tmp_path / "empty.toml").write_text("")  # defaults
    monkeypatch.setenv("SCRIBE_CONFIG", str(tmp_path / "empty.toml"))
    result = runner.invoke(app, [*_args(command, tmp_path), "--drafter", "llm", "--note-model", "/m/x.gguf",
                                 "--note-device", "cpu", "--note-dtype", "bfloat16"])
    assert result.exit_code == 1 and "options captured" in result.output, result.output
    assert {k: captured[-1][k] for k in ("drafter", "note_model", "note_device", "note_dtype")} == {
        "drafter": "llm", "note_model": "/m/x.gguf", "note_device": "cpu", "note_dtype": "bfloat16"}

    # the config's [note] table when no option is given; an option still wins
    monkeypatch.setenv("SCRIBE_CONFIG", str(write_config(
        tmp_path / "c.toml", 'drafter = "llm"\nmodel = "/site/g.gguf"\ndevice = "cpu"\ndtype = "float32"\n')))
    runner.invoke(app, _args(command, tmp_path))
    assert captured[-1]["drafter"] == "llm" and captured[-1]["note_model"] == "/site/g.gguf"
    assert (captured[-1]["note_device"], captured[-1]["note_dtype"]) == ("cpu", "float32")
    runner.invoke(app, [*_args(command, tmp_path), "--drafter", "extractive", "--note-dtype", "float16"])
    assert captured[-1]["drafter"] == "extractive" and captured[-1]["note_dtype"] == "float16"

    bad = runner.invoke(app, [*_args(command, tmp_path), "--note-device", "tpu"])
    assert bad.exit_code == 2  # a usage error, before anything runs


def _run(args: list[str], tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SCRIBE_DATA_DIR=str(tmp_path / "data"), SCRIBE_CONFIG=str(config))
    return subprocess.run([sys.executable, "-m", "scribe.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_config_naming_an_unknown_drafter_is_one_line_exit_1(tmp_path):
    cfg = write_config(tmp_path / "c.toml", 'drafter = "gpt"\n')
    for command in ("draft", "serve"):
        run = _run(_args(command, tmp_path), tmp_path, cfg)
        assert run.returncode == 1, run.stderr
        assert run.stderr.strip().splitlines() == [
            f"error: {cfg}: note.drafter 'gpt': no such drafter backend (choose from: "
            + ", ".join(__import__("scribe.notes", fromlist=["DRAFTERS"]).DRAFTERS.names()) + ")"]


def test_a_config_naming_a_missing_model_is_one_line_exit_4(tmp_path):
    missing = tmp_path / "no-model.gguf"
    cfg = write_config(tmp_path / "c.toml", f'drafter = "llm"\nmodel = "{missing}"\ndevice = "cpu"\n')
    run = _run(_args("draft", tmp_path), tmp_path, cfg)
    assert run.returncode == 4, run.stderr
    assert run.stderr.strip().splitlines() == [f"error: {missing}: note model file not found"]
