"""Backends by name: one registry per seam (speech model, VAD, diarizer, role labeller,
drafter).

A registry maps a name (what ``ScribeOptions`` and the command line carry: ``--speech
whisper``, ``--diarizer embedding``, ``--drafter extractive``) to the class that
implements the seam. Entries are written as ``"module:Class"`` and imported only when
chosen, so listing or validating names never loads torch, CTranslate2 or a model, and a
backend whose optional dependency is missing fails only when someone asks for it.

Every backend class is built the same way, ``Class.from_options(options)``, and reads
what it needs from ``ScribeOptions`` (its own knobs included), so the caller never knows
which backend it got. A new backend is one module that implements the seam's protocol
plus one entry in that seam's registry (see ``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from scribe.errors import ScribeError

if TYPE_CHECKING:
    from scribe.options import ScribeOptions

T = TypeVar("T")


class UnknownBackendError(ScribeError):
    """A backend name no registry entry has: one line naming the option and the choices."""


class Registry(Generic[T]):
    """The backends of one seam.

    Parameters
    ----------
    seam : str
        What the backends do, as the command line names it ("speech", "diarizer", ...);
        used in error messages.
    entries : Mapping[str, str]
        Backend name -> ``"package.module:Class"``. The class has a classmethod
        ``from_options(options: ScribeOptions) -> T``.
    """

    def __init__(self, seam: str, entries: Mapping[str, str]):
        self.seam = seam
        self._entries = dict(entries)

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order (the first is the default)."""
        return tuple(self._entries)

    def register(self, name: str, target: str) -> None:
        """Add a backend (``target``: ``"module:Class"``). A name is registered once."""
        if name in self._entries:
            raise ValueError(f"{self.seam} backend {name!r} is already registered")
        self._entries[name] = target

    def check(self, name: str) -> str:
        """Return ``name`` if registered; else raise ``UnknownBackendError``."""
        if name not in self._entries:
            choices = ", ".join(self._entries)
            raise UnknownBackendError(f"--{self.seam} {name}: no such {self.seam} backend (choose from: {choices})")
        return name

    def resolve(self, name: str) -> type:
        """The backend class registered as ``name`` (imports its module)."""
        module, _, attr = self._entries[self.check(name)].partition(":")
        return getattr(importlib.import_module(module), attr)

    def create(self, name: str, options: ScribeOptions) -> T:
        """Build backend ``name`` from ``options``.

        Raises
        ------
        UnknownBackendError
            ``name`` is not registered.
        ModelError
            The backend's model cannot be found or loaded (raised by the backend).
        """
        return self.resolve(name).from_options(options)
