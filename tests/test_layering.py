"""The house's layering, checked on the source (docs/architecture.md draws it).

Data flows one way: cli > service > live > batch > pipeline > stages > core > privacy.
No module imports a layer above its own, at module level or inside a function. The
stage packages (audio, speech, speakers, notes, fhir) are side by side and import each
other only along the edges declared here, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

RANK = {
    "privacy": 0,
    "core": 1,
    "audio": 2,
    "speech": 2,
    "speakers": 2,
    "notes": 2,
    "fhir": 2,
    "pipeline": 3,
    "batch": 4,
    "live": 5,
    "service": 6,
    "cli": 7,
}

# Stage -> stage imports that are part of the design.
STAGE_EDGES = {
    # The FHIR resources carry the note: rendered text, and section codes from templates.
    ("fhir", "notes"),
    # The extractive drafter labels roles itself when a transcript arrives without them.
    ("notes", "speakers"),
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "privacy":
        return "privacy"
    if parts[0] != "scribe":
        return None
    if len(parts) == 1 or parts[1] not in RANK:
        return "core"  # scribe/__init__, types, options, errors, config, models, registry, ...
    return parts[1]


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            if node.module == "scribe":  # from scribe import pipeline
                found += [f"scribe.{alias.name}" for alias in node.names]
    return found


def _modules() -> list[tuple[str, Path]]:
    files = sorted((REPO / "scribe").rglob("*.py")) + sorted((REPO / "privacy").rglob("*.py"))
    return [(".".join(f.relative_to(REPO).with_suffix("").parts), f) for f in files]


def test_the_layers_are_known():
    assert len(_modules()) > 40
    seen = {_layer(name) for name, _ in _modules()}
    assert seen == set(RANK), seen ^ set(RANK)


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_a_layer_above_it(module, path):
    mine = _layer(module)
    wrong = []
    for imported in _imports(path):
        theirs = _layer(imported)
        if theirs is None or theirs == mine:
            continue
        if RANK[theirs] > RANK[mine]:
            wrong.append(f"{imported} ({theirs}, above {mine})")
        elif RANK[theirs] == RANK[mine] and (mine, theirs) not in STAGE_EDGES:
            wrong.append(f"{imported} (stage {theirs}, beside {mine}: not a declared edge)")
    assert not wrong, f"{module} imports " + "; ".join(wrong)
