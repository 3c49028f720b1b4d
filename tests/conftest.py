"""Shared fixtures. Models load once per session: they are real, and loading is slow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scribe.scoring import shared_data

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture(scope="session", autouse=True)
def isolated_site(tmp_path_factory):
    """Audit log, site key, kept visits and config of a throwaway site, never the user's."""
    root = tmp_path_factory.mktemp("site")
    saved = {k: os.environ.get(k) for k in ("SCRIBE_DATA_DIR", "SCRIBE_CONFIG", "SCRIBE_AUDIT_LOG", "SCRIBE_SITE_KEY")}
    os.environ["SCRIBE_DATA_DIR"] = str(root / "data")
    (root / "config.toml").write_text("")  # empty: defaults (a named file must exist)
    os.environ["SCRIBE_CONFIG"] = str(root / "config.toml")
    os.environ.pop("SCRIBE_AUDIT_LOG", None)
    os.environ.pop("SCRIBE_SITE_KEY", None)
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def pipeline():
    from scribe.options import ScribeOptions
    from scribe.pipeline import Pipeline

    return Pipeline(ScribeOptions())


def _shared(name: str) -> Path:
    """The workplace's shared data sets. Absent on a clone elsewhere: skipped there; CI
    (CI=true) must have them, so there a missing folder fails."""
    path = shared_data() / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path}: shared data missing in CI")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def ami() -> Path:
    return _shared("ami-debug")


@pytest.fixture(scope="session")
def aci_bench() -> Path:
    return _shared("aci-bench")
