"""Note templates: plain TOML files a clinic can read, copy and edit.

A template names the note (title, LOINC document code) and lists its sections in the
order they are written. Each section says which speaker roles it draws from and which
cue words route a transcript sentence to it; the drafter does the routing. Templates
live in ``<repo>/templates`` (or ``$SCRIBE_TEMPLATES_DIR``) so a clinic edits data, not
code. See ``templates/README.md`` for the format.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.types import Role
from scribe.errors import PathError

logger = logging.getLogger("scribe.notes.templates")

ENV_DIR = "SCRIBE_TEMPLATES_DIR"
VERBOSITIES = ("brief", "full")
# The learned drafter's clinical kinds (scribe.notes.sections.KINDS, repeated here so that
# loading a template does not load the model).
KINDS = (
    "chief_complaint", "hpi", "history", "ros", "medications", "allergies", "exam",
    "results", "assessment", "plan",
)


class TemplateError(PathError, ValueError):
    """A template that cannot be used; renders as one line naming the file and reason."""


@dataclass(frozen=True)
class TemplateSection:
    id: str
    title: str
    roles: tuple[Role, ...]
    cues: tuple[str, ...]
    empty_text: str = "Not discussed."
    loinc: str | None = None
    # Roles whose sentences land here when they match no section's cues; without such a
    # section an unmatched sentence is left out of the note (clinician chatter, mostly).
    fallback: tuple[Role, ...] = ()
    max_sentences: int | None = None
    # Breaks ties when a sentence matches two sections' cues equally well (higher wins).
    priority: int = 0
    # Clinical kinds (scribe.notes.sections.KINDS) this section takes from the learned
    # drafter; cues only route sentences whose kind no section lists.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    loinc: str
    sections: tuple[TemplateSection, ...]
    description: str = ""
    path: str | None = None
    # "brief" (a GP note, about 150 words) or "full" (about 400, like ACI-BENCH's notes);
    # target_words, when set, overrides the verbosity's word budget.
    verbosity: str = "full"
    target_words: int | None = None

    def section(self, section_id: str) -> TemplateSection:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)


def templates_dir() -> Path:
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "templates"


def available_templates() -> list[str]:
    """Names (file stems) of the templates in the templates folder, sorted."""
    d = templates_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    if name_or_path.endswith(".toml") or os.sep in name_or_path or "/" in name_or_path:
        return Path(name_or_path)
    return templates_dir() / f"{name_or_path}.toml"


def load_template(name_or_path: str) -> Template:
    """Load a template by name (``soap`` -> ``<templates>/soap.toml``) or .toml path."""
    path = _resolve(name_or_path)
    if not path.is_file():
        known = ", ".join(available_templates()) or "none"
        raise TemplateError(path, f"template not found (available: {known})")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        # tomllib messages are already one line with the position, e.g. "(at line 3, column 7)".
        raise TemplateError(path, f"not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TemplateError(path, f"cannot read: {e}") from None
    template = _parse(path, data)
    logger.debug("loaded template %s with %d sections", template.id, len(template.sections))
    return template


def _str(path: Path, table: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise TemplateError(path, f"missing key '{key}' in {where}")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise TemplateError(path, f"key '{key}' in {where} must be a non-empty string")
    return value


def _parse(path: Path, data: dict[str, Any]) -> Template:
    head = data.get("template")
    if not isinstance(head, dict):
        raise TemplateError(path, "missing table [template]")
    sections_raw = data.get("sections")
    if not isinstance(sections_raw, list) or not sections_raw:
        raise TemplateError(path, "missing [[sections]] (a template needs at least one)")

    sections: list[TemplateSection] = []
    seen: set[str] = set()
    for i, raw in enumerate(sections_raw, start=1):
        where = f"section {i}"
        if not isinstance(raw, dict):
            raise TemplateError(path, f"{where} must be a table")
        sid = _str(path, raw, "id", where)
        where = f"section '{sid}'"
        if sid in seen:
            raise TemplateError(path, f"duplicate section id '{sid}'")
        seen.add(sid)
        roles_raw = raw.get("roles")
        if not isinstance(roles_raw, list) or not roles_raw:
            raise TemplateError(path, f"missing key 'roles' in {where} (e.g. roles = [\"patient\"])")
        try:
            roles = tuple(Role(str(r).strip().lower()) for r in roles_raw)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise TemplateError(path, f"unknown role in {where}; use any of: {allowed}") from None
        cues_raw = raw.get("cues", [])
        if not isinstance(cues_raw, list) or not all(isinstance(c, str) for c in cues_raw):
            raise TemplateError(path, f"key 'cues' in {where} must be a list of strings")
        max_sentences = raw.get("max_sentences")
        if max_sentences is not None and (not isinstance(max_sentences, int) or max_sentences < 1):
            raise TemplateError(path, f"key 'max_sentences' in {where} must be a positive integer")
        priority = raw.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise TemplateError(path, f"key 'priority' in {where} must be an integer")
        fallback_raw = raw.get("fallback", False)
        if fallback_raw is True:
            fallback = roles
        elif fallback_raw is False:
            fallback = ()
        elif isinstance(fallback_raw, list):
            try:
                fallback = tuple(Role(str(r).strip().lower()) for r in fallback_raw)
            except ValueError:
                allowed = ", ".join(r.value for r in Role)
                raise TemplateError(path, f"unknown role in 'fallback' of {where}; use any of: {allowed}") from None
        else:
            raise TemplateError(path, f"key 'fallback' in {where} must be true, false or a list of roles")
        kinds_raw = raw.get("kinds", [])
        if not isinstance(kinds_raw, list) or not all(isinstance(k, str) for k in kinds_raw):
            raise TemplateError(path, f"key 'kinds' in {where} must be a list of strings")
        unknown = [k for k in kinds_raw if k not in KINDS]
        if unknown:
            raise TemplateError(path, f"unknown kind '{unknown[0]}' in {where}; use any of: {', '.join(KINDS)}")
        sections.append(
            TemplateSection(
                id=sid,
                title=_str(path, raw, "title", where),
                roles=roles,
                # Cues are matched on lower-cased text; normalise once here.
                cues=tuple(c.strip().lower() for c in cues_raw if c.strip()),
                empty_text=_str(path, raw, "empty_text", where, required=False) or "Not discussed.",
                loinc=_str(path, raw, "loinc", where, required=False),
                fallback=fallback,
                max_sentences=max_sentences,
                priority=priority,
                kinds=tuple(kinds_raw),
            )
        )

    verbosity = head.get("verbosity", "full")
    if verbosity not in VERBOSITIES:
        raise TemplateError(path, f"key 'verbosity' in [template] must be one of: {', '.join(VERBOSITIES)}")
    target_words = head.get("target_words")
    if target_words is not None and (not isinstance(target_words, int) or isinstance(target_words, bool) or target_words < 20):
        raise TemplateError(path, "key 'target_words' in [template] must be an integer of at least 20")

    return Template(
        id=_str(path, head, "id", "[template]"),
        title=_str(path, head, "title", "[template]"),
        loinc=_str(path, head, "loinc", "[template]"),
        sections=tuple(sections),
        description=_str(path, head, "description", "[template]", required=False) or "",
        path=str(path),
        verbosity=verbosity,
        target_words=target_words,
    )
