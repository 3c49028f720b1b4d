"""Per-visit keys that live only in memory and can be destroyed (crypto-shredding).

Threat model. Every byte of a visit that privacy mode holds is sealed under one
``VisitKey``; when the visit ends the key is overwritten, which makes whatever ciphertext
is left anywhere (memory already freed, a spill file, swap, a crash leftover) unreadable.
Protected against: reading leftovers on disk or in swapped-out ciphertext after the visit,
and recovering a visit from a crashed process's files. Not protected against: an attacker
who can read this process's memory while the visit is live (they can read the key, or the
plaintext the pipeline is working on), nor copies CPython makes behind our back (the
transient ``bytes`` from ``os.urandom``, immutable ``str`` of decoded text): those are
freed promptly but not overwritten. Zeroing narrows the window; it is not a guarantee.
"""

from __future__ import annotations

import logging
import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("scribe.privacy.keys")

KEY_BYTES = 32  # AES-256


class KeyDestroyedError(Exception):
    """A destroyed visit key was used: the visit is over and its data is gone."""

    def __init__(self, what: str = "visit key"):
        super().__init__(f"{what}: destroyed, the visit's data can no longer be read or sealed")


class VisitKey:
    """A 256-bit AES key for one visit, held in a ``bytearray`` so it can be overwritten.

    ``AESGCM`` copies the key into OpenSSL's own memory, which Python cannot zero. So the
    key builds exactly one ``AESGCM``, lazily, and ``destroy()`` drops that reference
    together with zeroing the bytearray; callers must not keep the object returned by
    ``aesgcm()`` beyond one operation, or the OpenSSL copy outlives the visit.

    Refuses pickling and copying: a key must never leave this process or fork into a
    second, unshredded copy. ``_material`` is the bytearray itself, for tests that check
    it is zeroed.
    """

    __slots__ = ("_material", "_aead", "_destroyed", "__weakref__")

    def __init__(self, material: bytearray):
        if not isinstance(material, bytearray):
            raise TypeError("VisitKey: key material must be a bytearray, so it can be zeroed")
        if len(material) != KEY_BYTES:
            raise ValueError(f"VisitKey: key must be {KEY_BYTES} bytes, got {len(material)}")
        self._material = material  # taken over, not copied: the caller's buffer is ours to zero
        self._aead: AESGCM | None = None
        self._destroyed = False

    @classmethod
    def generate(cls) -> VisitKey:
        # token_bytes returns immutable bytes; it is dropped at once (see module docstring).
        return cls(bytearray(secrets.token_bytes(KEY_BYTES)))

    @property
    def destroyed(self) -> bool:
        return self._destroyed

    def aesgcm(self) -> AESGCM:
        """The one AEAD for this key. Use it and let it go; do not cache it."""
        if self._destroyed:
            raise KeyDestroyedError()
        if self._aead is None:
            self._aead = AESGCM(self._material)
        return self._aead

    def destroy(self) -> None:
        """Zero the key and drop the AEAD. Idempotent."""
        if self._destroyed:
            return
        self._aead = None  # frees OpenSSL's copy once no caller holds the object
        zero(self._material)
        self._destroyed = True
        log.debug("visit key destroyed")

    def __enter__(self) -> VisitKey:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def __del__(self) -> None:
        # A key that is garbage collected without destroy() still gets shredded.
        try:
            self.destroy()
        except Exception:  # interpreter shutdown: nothing useful left to do
            pass

    def __repr__(self) -> str:
        return f"<VisitKey {'destroyed' if self._destroyed else 'live'}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("VisitKey cannot be pickled or copied: keys never leave memory")

    def __reduce_ex__(self, protocol):
        return self.__reduce__()

    def __copy__(self):
        return self.__reduce__()

    def __deepcopy__(self, memo):
        return self.__reduce__()


def zero(buf: bytearray | memoryview | np.ndarray) -> None:
    """Overwrite a plaintext buffer in place with zero bytes.

    Accepts anything writable: bytearrays, writable memoryviews (any format or layout) and
    numpy arrays of any non-object dtype. Immutable ``bytes`` cannot be zeroed and raise.
    """
    if isinstance(buf, np.ndarray):
        arr = buf
    elif isinstance(buf, (bytearray, memoryview)):
        if isinstance(buf, memoryview) and buf.readonly:
            raise TypeError("zero: memoryview is read-only")
        arr = np.asarray(memoryview(buf))  # a view, not a copy: writes reach the buffer
    else:
        raise TypeError(f"zero: cannot overwrite {type(buf).__name__} in place")
    if arr.dtype.hasobject:
        raise TypeError("zero: object arrays hold references, not data")
    if not arr.flags.writeable:
        raise TypeError("zero: array is read-only")
    # np.zeros of any non-object dtype is all-zero bytes (unlike fill(0) on strings).
    np.copyto(arr, np.zeros((), dtype=arr.dtype))
