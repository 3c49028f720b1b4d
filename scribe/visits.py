"""Sets up a process for visits in the mode the site chose, and opens each visit.

Done once per process, before any audio is touched:
- both modes: transcript text never reaches a log (content filter); no network except
  loopback (socket audit hook, fails closed); core dumps off; the audit log records
  metadata only.
- privacy mode: leftovers of a crashed run's encrypted spill files are removed; each
  visit gets its own in-memory key (privacy.visit.Visit).
- standard mode: visits are journaled, encrypted under the site key, to the visit store;
  expired visits are purged per the configured retention.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta

from privacy.audit import AuditLog
from privacy.policy import ContentRegistry, enable_network_guard, harden_process, install_log_filter
from privacy.spill import sweep_spill
from privacy.store import VisitStore, default_visits_root
from privacy.visit import Visit
from scribe.config import SiteConfig

logger = logging.getLogger("scribe.visits")


@dataclass
class VisitFactory:
    """Opens the visits of one process, all in the mode it was started in.

    ``privacy``: privacy mode (nothing of a visit outlives it) or standard mode.
    ``audit``: the audit log every visit records to. ``registry``: the visit text the
    log filter keeps out of logs. ``store``: the encrypted visit store, standard mode
    only. ``last_id``: the id of the visit opened last. ``where``: the audit fields naming the
    machine the visits run on (``node``, ``host``: a batch worker on Ray), recorded with
    each visit's ``visit_opened`` and ``visit_processed``.
    """

    privacy: bool
    audit: AuditLog
    registry: ContentRegistry
    store: VisitStore | None = None
    last_id: str | None = None
    where: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, privacy: bool, site: SiteConfig = SiteConfig()) -> "VisitFactory":
        """Harden the process for visits (see the module docstring) and purge kept
        visits past ``site.retention_days``. Call once, before any audio is read.

        Raises ``privacy.store.StoreError`` (a one-line error, exit code 1) when the site
        key or visit store cannot be opened (standard mode)."""
        if site.data_dir is not None and not os.environ.get("SCRIBE_DATA_DIR"):
            # An empty variable counts as unset, as in privacy.paths.
            os.environ["SCRIBE_DATA_DIR"] = str(site.data_dir)
        harden_process()
        # A proxy on loopback would be a way around the network guard.
        for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            os.environ.pop(var, None)
        enable_network_guard()
        registry = _content_registry()
        audit = AuditLog()
        audit.sweep()  # visits a killed process left open are recorded interrupted, at start
        store = None
        if privacy:
            sweep_spill()  # a crashed run's encrypted spill files (useless without its key)
        else:
            store = open_store()
        # Retention holds whatever mode this run is in: a site that switched to privacy
        # mode still has its earlier kept visits purged on time.
        if site.retention_days and (store is not None or default_visits_root().exists()):
            purged = (store or open_store()).purge(timedelta(days=site.retention_days))
            if purged:
                audit.record("visits_purged", "*", visits=len(purged), reason="retention")
        return cls(privacy, audit, registry, store)

    def open(self) -> Visit:
        """A new visit in this process's mode; use it as a context manager (an exception
        discards it whole)."""
        visit = Visit(privacy=self.privacy, audit=self.audit, registry=self.registry, store=self.store,
                      where=dict(self.where))
        self.last_id = visit.visit_id
        return visit


_registry: ContentRegistry | None = None


def _content_registry() -> ContentRegistry:
    """One registry and one log filter per process, however many batches it runs."""
    global _registry
    if _registry is None:
        _registry = ContentRegistry()
        install_log_filter(_registry)
    return _registry


def open_store() -> VisitStore:
    """The site's encrypted visit store (standard mode), under the site key. Raises
    ``privacy.store.StoreError`` when the key cannot be read."""
    from privacy.store import load_site_key

    return VisitStore(default_visits_root(), load_site_key())
