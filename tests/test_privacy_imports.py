"""privacy/ is the bottom layer: no module in it imports scribe (not even inside a
function), so privacy can be reviewed, tested and reused on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from privacy.buffer import ChunkIntegrityError
from privacy.errors import IntegrityError, ScribeError
from privacy.store import RecordIntegrityError, StoreError

PRIVACY = Path(__file__).resolve().parent.parent / "privacy"


def _imported(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(PRIVACY.rglob("*.py")), ids=lambda p: p.name)
def test_privacy_does_not_import_scribe(path):
    offending = [n for n in _imported(path) if n == "scribe" or n.startswith("scribe.")]
    assert offending == [], f"{path.name} imports {offending}"


def test_one_integrity_error_hierarchy():
    chunk = ChunkIntegrityError("v1", "audio", 3, "authentication failed")
    record = RecordIntegrityError("/x/audio.journal", "record 0: authentication failed")
    assert isinstance(chunk, IntegrityError) and isinstance(record, IntegrityError)
    # A stored record's failure is still reported by the CLI like every store error.
    assert isinstance(record, StoreError) and isinstance(record, ScribeError)


def test_scribe_errors_are_privacy_errors():
    import scribe.errors

    assert scribe.errors.ScribeError is ScribeError
    assert issubclass(StoreError, scribe.errors.PathError)
