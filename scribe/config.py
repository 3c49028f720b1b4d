"""The site's configuration file: what a clinic's IT sets once for a machine.

``$SCRIBE_CONFIG`` or ``~/.config/scribe/config.toml`` (``$XDG_CONFIG_HOME``)::

    privacy = true          # privacy mode (default); false keeps visits, encrypted at rest
    retention_days = 30     # standard mode: visits older than this are purged
    data_dir = "/var/lib/scribe"   # audit log, site key and kept visits

Command-line options override it. Secrets never go here or on the command line: the
standard-mode site key lives in its own 0600 file (``site.key`` in data_dir).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from scribe.errors import PathError


class ConfigError(PathError):
    exit_code = 1


@dataclass(frozen=True)
class SiteConfig:
    privacy: bool = True
    retention_days: int | None = None
    data_dir: Path | None = None


def config_path() -> Path:
    if os.environ.get("SCRIBE_CONFIG"):
        return Path(os.environ["SCRIBE_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "scribe" / "config.toml"


def load_config(path: Path | None = None) -> SiteConfig:
    path = path or config_path()
    if not path.exists():
        return SiteConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, f"cannot be read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, f"not valid TOML ({e})") from None
    unknown = set(data) - {"privacy", "retention_days", "data_dir"}
    if unknown:
        raise ConfigError(path, f"unknown setting(s): {', '.join(sorted(unknown))}")
    privacy = data.get("privacy", True)
    if not isinstance(privacy, bool):
        raise ConfigError(path, "privacy must be true or false")
    retention = data.get("retention_days")
    if retention is not None and (isinstance(retention, bool) or not isinstance(retention, int) or retention < 1):
        raise ConfigError(path, "retention_days must be a whole number of days, at least 1")
    data_dir = data.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise ConfigError(path, "data_dir must be a path")
    return SiteConfig(privacy, retention, Path(data_dir).expanduser() if data_dir else None)
