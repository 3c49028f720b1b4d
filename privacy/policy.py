"""Enforcement of privacy mode's promises inside the process: no core dumps, no visit
content in logs, no network connections.

These are backstops, not the primary control. The pipeline is written to keep transcript
text out of logs and off the network; the helpers here make a slip fail closed (a
redacted log line, a refused connection) instead of leaking.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import re
import socket
import sys
import threading
import unicodedata
from typing import Any, Iterable, Iterator

log = logging.getLogger("scribe.privacy.policy")

# ---------------------------------------------------------------------------------------
# Core dumps


_PR_SET_DUMPABLE = 4  # <linux/prctl.h>
_PR_GET_DUMPABLE = 3


def harden_process() -> dict[str, Any]:
    """Forbid core dumps of this process, which would write audio and transcript buffers
    to disk. Sets RLIMIT_CORE to (0, 0) and, on Linux, clears the dumpable flag (which
    also stops same-user ptrace and /proc/<pid>/mem reads). Best effort and idempotent;
    returns what was applied, e.g. ``{"rlimit_core": (0, 0), "dumpable": 0}``."""
    applied: dict[str, Any] = {}
    try:
        import resource

        # Lowering the hard limit too means nothing later in the process can raise it.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        applied["rlimit_core"] = resource.getrlimit(resource.RLIMIT_CORE)
    except (ImportError, ValueError, OSError) as exc:
        log.debug("RLIMIT_CORE not set: %s", type(exc).__name__)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
                applied["dumpable"] = libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)
            else:
                log.debug("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.debug("prctl unavailable: %s", type(exc).__name__)
    log.debug("process hardened: %s", sorted(applied))
    return applied


# ---------------------------------------------------------------------------------------
# Visit content in logs

REDACTED = "[redacted: log line contained visit content]"

# A quote of this many consecutive words is treated as visit content. Three words are
# rarely a coincidence between a log message and speech, and catch partial quotes.
NGRAM = 3
# Segments shorter than NGRAM words are registered whole, unless they are this short:
# "ok", "no", "hm" carry nothing and would redact half of all log lines.
_MIN_SHORT_CHARS = 4

_WORD = re.compile(r"\w+(?:['’]\w+)*")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return _WORD.findall(text)


def _grams(words: list[str], n: int) -> Iterator[str]:
    for i in range(len(words) - n + 1):
        yield " ".join(words[i : i + n])


class ContentRegistry:
    """Phrases that must never reach a log: every transcript segment of the open visits,
    held in memory only, as lowercase word n-grams (so a partial quote of three or more
    words matches as well as the whole text). Phrases are kept per visit (``owner``):
    the capture service runs several visits at once, and closing one must not unprotect
    another's. :meth:`clear` at visit close."""

    def __init__(self) -> None:
        self._phrases: dict[str, set[str]] = {}
        self._short_lengths: set[int] = set()  # word counts of registered short segments
        self._lock = threading.Lock()
        self.redactions = 0

    def add(self, text: str, owner: str = "") -> None:
        words = _words(text)
        if not words:
            return
        with self._lock:
            phrases = self._phrases.setdefault(owner, set())
            if len(words) >= NGRAM:
                phrases.update(_grams(words, NGRAM))
            elif len(" ".join(words)) >= _MIN_SHORT_CHARS:
                phrases.add(" ".join(words))
                self._short_lengths.add(len(words))

    def add_all(self, texts: Any, owner: str = "") -> None:
        for text in texts:
            self.add(text, owner)

    def clear(self, owner: str | None = None) -> None:
        """Forget one visit's phrases (``owner``), or every visit's."""
        with self._lock:
            if owner is None:
                self._phrases.clear()
            else:
                self._phrases.pop(owner, None)
            if not self._phrases:
                self._short_lengths.clear()

    def __len__(self) -> int:
        return sum(len(p) for p in self._phrases.values())

    def contains_content(self, text: str) -> bool:
        """Whether ``text`` quotes registered content. Cost is linear in ``text``: its
        n-grams are built once and intersected with each open visit's set."""
        if not self._phrases or not text:
            return False
        words = _words(text)
        with self._lock:
            lengths = {NGRAM} | self._short_lengths
            for n in lengths:
                grams = set(_grams(words, n))
                if any(not phrases.isdisjoint(grams) for phrases in self._phrases.values()):
                    return True
        return False


def _record_texts(record: logging.LogRecord) -> Iterator[str]:
    try:
        yield record.getMessage()
    except Exception:
        # A record whose args do not format is still checked, piece by piece.
        yield str(record.msg)
        yield repr(record.args)
    if record.exc_info and record.exc_info[1] is not None:
        yield logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        yield record.exc_text
    if record.stack_info:
        yield record.stack_info


def redact_record(registry: ContentRegistry, record: logging.LogRecord) -> bool:
    """Redact ``record`` in place if it carries visit content; return whether it did. The
    record is kept (a log line that vanished would hide that something tried to log), but
    its message, arguments and traceback are replaced."""
    if getattr(record, "_scribe_redacted", False):
        return True
    if not any(registry.contains_content(t) for t in _record_texts(record)):
        return False
    record.msg = REDACTED
    record.args = ()
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    record._scribe_redacted = True
    registry.redactions += 1
    return True


class ContentLogFilter(logging.Filter):
    """Redacts log records that quote visit content; never drops a record."""

    def __init__(self, registry: ContentRegistry):
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(self.registry, record)
        return True


_installed: dict[int, tuple[ContentLogFilter, Any]] = {}
_install_lock = threading.Lock()


def install_log_filter(registry: ContentRegistry) -> ContentLogFilter:
    """Redact visit content from every log record. Three layers, because each alone has a
    gap: the record factory checks records as they are created (covering handlers added
    later and loggers that do not propagate); the filter on the root logger covers records
    logged to it directly; the filter on every existing handler of the root logger covers
    records propagated from child loggers (logger-level filters do not see those).
    Idempotent per registry; undo with :func:`uninstall_log_filter`."""
    with _install_lock:
        if id(registry) in _installed:
            return _installed[id(registry)][0]
        filt = ContentLogFilter(registry)
        root = logging.getLogger()
        root.addFilter(filt)
        for handler in root.handlers:
            handler.addFilter(filt)
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                redact_record(registry, record)
            except Exception:
                # Logging must not raise into the caller; the handler filter still runs.
                pass
            return record

        logging.setLogRecordFactory(factory)
        _installed[id(registry)] = (filt, (previous, factory))
        return filt


def uninstall_log_filter(registry: ContentRegistry) -> None:
    """Remove what :func:`install_log_filter` added for ``registry`` (tests, or leaving
    privacy mode)."""
    with _install_lock:
        entry = _installed.pop(id(registry), None)
        if entry is None:
            return
        filt, (previous, factory) = entry
        root = logging.getLogger()
        root.removeFilter(filt)
        for handler in root.handlers:
            handler.removeFilter(filt)
        # Only unwind the factory if nothing was layered on top since.
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)


# ---------------------------------------------------------------------------------------
# Network


class NetworkBlockedError(PermissionError):
    """A network operation to a non-loopback address while privacy mode is on."""


_guard_active = False
_hook_installed = False
_blocked = 0
_guard_lock = threading.Lock()
_reentry = threading.local()

_ADDRESS_EVENTS = frozenset(
    {"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"}
)
_NAME_EVENTS = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)
# Names that resolve locally (from /etc/hosts), never through DNS.
_LOCAL_NAMES = frozenset({"localhost", "localhost."})
_LOCAL_FAMILIES = {socket.AF_UNIX}
if hasattr(socket, "AF_NETLINK"):
    _LOCAL_FAMILIES.add(socket.AF_NETLINK)  # talks to the kernel, not the network


# The one way out the guard opens: the EHR's FHIR server the site configured, to which
# the clinician's signed note (never audio or transcript) is exported. Host names for
# resolution, (address, port) pairs for connections.
_allowed_names: set[str] = set()
_allowed_addresses: set[tuple[str, int]] = set()
# The other way a batch across machines needs: the addresses of its own Ray cluster's
# nodes (any port: Ray's GCS, raylets, object managers and workers each listen on their
# own), given as IP addresses, never names (nothing is resolved for them).
_allowed_hosts: set[str] = set()


def allow_cluster(addresses: Iterable[str]) -> list[str]:
    """Let connections to these IP addresses through the guard, on any port: the nodes
    of the Ray cluster a batch runs on (``scribe.batch.ray_runner``). Loopback needs no
    opening. Returns the addresses opened, normalised; raises ``ValueError`` for one that
    is not an IP address (a name would need DNS, which the guard keeps closed)."""
    opened = []
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if not ip.is_loopback:
            opened.append(str(ip))
    with _guard_lock:
        _allowed_hosts.update(opened)
    if opened:
        log.info("network guard: %d cluster address(es) allowed", len(opened))
    return opened


def _cluster_host(host: Any) -> bool:
    if not _allowed_hosts or not isinstance(host, str):
        return False
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0])) in _allowed_hosts
    except ValueError:
        return False


def allow_destination(url: str) -> None:
    """Let connections to ``url``'s host and port through the guard (the configured FHIR
    server). Its name is resolved now; connections go only to what it resolved to."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with _guard_lock:
        _allowed_names.add(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        infos = []  # unreachable now; connecting later fails on its own
    with _guard_lock:
        _allowed_addresses.update((info[4][0], port) for info in infos)
    log.info("network guard: export destination %s:%d allowed", host, port)


def _is_loopback_host(host: Any) -> bool:
    if isinstance(host, (bytes, bytearray)):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a host name other than localhost would need DNS
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _socket_target(event: str, args: tuple) -> tuple[bool, str]:
    """(allowed, host-for-the-log) for one audited socket event."""
    if event in _NAME_EVENTS:
        host = args[0] if args else None
        if event == "socket.getnameinfo" and isinstance(host, tuple):
            host = host[0] if host else None  # (address, port): a reverse lookup
        if event == "socket.getaddrinfo" and host is None:
            return True, "-"  # no name to resolve: loopback or wildcard, no DNS
        allowed = (_is_loopback_host(host) or (isinstance(host, str) and host.lower() in _allowed_names)
                   or _cluster_host(host))
        return allowed, str(host)[:255]
    sock, address = (args[0], args[1]) if len(args) >= 2 else (None, None)
    if address is None:
        return True, "-"  # sendmsg on an already-connected socket: checked at connect
    family = getattr(sock, "family", None)
    if family in _LOCAL_FAMILIES or isinstance(address, (str, bytes, bytearray)):
        return True, "unix"
    if isinstance(address, tuple) and address:
        allowed = _is_loopback_host(address[0]) or _cluster_host(address[0]) or (
            event == "socket.connect" and len(address) >= 2 and (address[0], address[1]) in _allowed_addresses
        )
        return allowed, str(address[0])[:255]
    return False, f"family {family}"


def _audit_hook(event: str, args: tuple) -> None:
    # Called for every audited event in the process (imports, opens, ...): return fast.
    if not _guard_active or not event.startswith("socket."):
        return
    if event not in _ADDRESS_EVENTS and event not in _NAME_EVENTS:
        return
    allowed, host = _socket_target(event, args)
    if allowed:
        return
    global _blocked
    with _guard_lock:
        _blocked += 1
    # A log handler that itself uses the network would re-enter here; log once.
    if not getattr(_reentry, "active", False):
        _reentry.active = True
        try:
            log.warning("network blocked (privacy mode): %s to %s", event, host)
        except Exception:
            pass
        finally:
            _reentry.active = False
    raise NetworkBlockedError(f"{host}: network access blocked in privacy mode ({event})")


def enable_network_guard() -> None:
    """Refuse non-loopback network operations from now on. The audit hook is installed
    once per process and cannot be removed; :func:`disable_network_guard` only turns it
    off. Loopback (127.0.0.0/8, ::1, "localhost") and Unix sockets stay allowed, so note
    that a proxy listening on loopback is still a way out: privacy mode must not be run
    with one configured."""
    global _guard_active, _hook_installed
    with _guard_lock:
        if not _hook_installed:
            sys.addaudithook(_audit_hook)
            _hook_installed = True
        _guard_active = True
    log.debug("network guard on")


def disable_network_guard() -> None:
    """Allow network operations again (standard mode, tests)."""
    global _guard_active
    with _guard_lock:
        _guard_active = False
    log.debug("network guard off")


def network_guard_active() -> bool:
    return _guard_active


def blocked_attempts() -> int:
    """How many network operations the guard has refused in this process."""
    return _blocked


@contextlib.contextmanager
def network_guard() -> Iterator[None]:
    """Guard on for the ``with`` block, then back to how it was."""
    was = _guard_active
    enable_network_guard()
    try:
        yield
    finally:
        if not was:
            disable_network_guard()
