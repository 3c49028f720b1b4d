"""Bundled weights are found without a network, and base's two parts join verifiably."""

from __future__ import annotations

import pytest

from scribe import models
from scribe.errors import ModelError


def test_tiny_en_is_bundled():
    path, info = models.whisper_model("tiny.en")
    assert (path / "model.bin").stat().st_size > 30_000_000
    assert info.name == "whisper-tiny.en" and info.version != "unknown"


def test_base_parts_join_once_with_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBE_CACHE_DIR", str(tmp_path))
    path, info = models.whisper_model("base")
    assert (path / "model.bin").stat().st_size == models.BASE_SIZE
    assert (path / ".verified").read_text() == models.BASE_SHA256
    mtime = (path / "model.bin").stat().st_mtime_ns
    again, _ = models.whisper_model("base")
    assert again == path and (path / "model.bin").stat().st_mtime_ns == mtime  # not re-joined


def test_tampered_join_is_redone(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRIBE_CACHE_DIR", str(tmp_path))
    path, _ = models.whisper_model("base")
    (path / ".verified").write_text("0" * 64)  # a marker that no longer matches
    with open(path / "model.bin", "r+b") as f:
        f.write(b"\0" * 16)
    models.whisper_model("base")
    import hashlib

    assert hashlib.sha256((path / "model.bin").read_bytes()).hexdigest() == models.BASE_SHA256


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not a model name"):
        models.whisper_model(str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="missing model.bin"):
        models.whisper_model(str(tmp_path))


def test_speaker_encoder_and_vad_are_bundled():
    for path, info in (models.speaker_encoder(), models.vad_model()):
        assert path.exists() and info.version != "unknown"
