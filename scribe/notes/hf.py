"""What every model drafter (``llm``, ``audio-llm``) shares when it loads a ``transformers``
model: where it runs (device, dtype), the checks on a local model folder, and one-line
load errors.

Nothing here downloads: ``scribe/__init__`` sets ``HF_HUB_OFFLINE``, and every
``from_pretrained`` call passes ``local_files_only=True``. Importing this module imports
neither torch nor transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.errors import ModelError
from scribe.options import NOTE_DEVICES as DEVICES
from scribe.options import NOTE_DTYPES as DTYPES

GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file (ggml's GGUF specification)


class ModelLoadError(ModelError):
    """The note model cannot be found or loaded: one line naming the path and the reason
    (exit code 4, as every ``ModelError``)."""


@dataclass(frozen=True)
class Placement:
    """Where a note model runs: ``device`` ("cpu" or "cuda") and ``dtype`` (a
    ``torch.dtype`` name)."""

    device: str
    dtype: str

    def torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype)


def placement(device: str = "auto", dtype: str = "auto") -> Placement:
    """Resolve ``--note-device`` / ``--note-dtype``.

    ``auto`` device is cuda when torch sees a GPU, else cpu. ``auto`` dtype is bfloat16 on
    cuda (half the memory of float32, the precision these models are released in) and
    float32 on cpu (CPU half-precision matmuls are slow or missing on most x86 CPUs).
    Raises ``ModelLoadError`` for an unknown name, or cuda asked for where there is none.
    """
    if device not in DEVICES:
        raise ModelLoadError(f"note device {device!r} is not one of {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ModelLoadError(f"note dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ModelLoadError("note device cuda asked for, but torch sees no CUDA device")
    resolved = ("cuda" if has_cuda else "cpu") if device == "auto" else device
    if dtype == "auto":
        dtype = "bfloat16" if resolved == "cuda" else "float32"
    return Placement(resolved, dtype)


def model_folder(path: str | Path) -> Path:
    """``path`` as a local ``save_pretrained`` folder (it must hold ``config.json``).
    Raises ``ModelLoadError`` when it is missing or not a model folder."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ModelLoadError(f"{folder}: note model folder not found")
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: not a folder (a transformers model folder, or a .gguf file for --drafter llm)")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: no config.json (not a transformers model folder)")
    return folder


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF file as checked before ``transformers`` loads it.

    ``path``: the file; ``architecture``: its ``general.architecture`` key ("gemma3",
    "llama", ...); ``tensors``: how many tensors it holds; ``size``: its length in bytes,
    at least the end of its last tensor's data.
    """

    path: Path
    architecture: str
    tensors: int
    size: int


def read_gguf(path: str | Path) -> GgufInfo:
    """Check a ``.gguf`` note model's header and extent without loading its weights.

    The ``gguf`` package's reader parses the header and maps the tensors (it reads no
    tensor data); the tensors must end inside the file. Raises ``ModelLoadError`` (one
    line) for a file that is missing or unreadable, is not GGUF (no ``GGUF`` magic),
    whose header cannot be parsed (corrupt, or cut inside its header), whose tensors run
    past its end (truncated), or that holds no tensors or names no architecture.
    """
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            magic = f.read(len(GGUF_MAGIC))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: note model file not found") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: note model file cannot be read ({e.strerror or type(e).__name__})") from None
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"{path}: not a GGUF file (no GGUF header)")
    try:
        from gguf import GGUFReader
    except ImportError as e:  # pragma: no cover - a dependency
        raise ModelLoadError(f"{path}: the gguf package is not installed ({e})") from None
    try:
        reader = GGUFReader(path)
        tensors = list(reader.tensors)
        field = reader.fields.get("general.architecture")
        architecture = bytes(field.parts[field.data[0]]).decode("utf-8") if field is not None else ""
        end = max((int(t.data_offset) + int(t.n_bytes) for t in tensors), default=0)
    except MemoryError:
        raise ModelLoadError(f"{path}: out of memory reading the GGUF header") from None
    except Exception as e:  # a foreign parser on a damaged file: any failure is "corrupt"
        raise ModelLoadError(f"{path}: truncated or corrupt GGUF file ({first_line(e)})") from None
    finally:
        reader = None  # release the memory map
    if end > size:
        raise ModelLoadError(f"{path}: truncated GGUF file ({size} bytes; its tensors end at byte {end})")
    if not tensors:
        raise ModelLoadError(f"{path}: GGUF file holds no tensors")
    if not architecture:
        raise ModelLoadError(f"{path}: GGUF file names no architecture (general.architecture)")
    return GgufInfo(path, architecture, len(tensors), size)


def first_line(e: BaseException) -> str:
    """An exception's message as one line (its first), for a one-line error."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def quiet_transformers() -> None:
    """No progress bars or advisory warnings from transformers on stderr: a load
    problem is reported once, as one ``ModelLoadError`` line."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
