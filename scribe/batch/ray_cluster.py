"""The Ray cluster a batch across machines runs on (``scribe.batch.ray_runner``).

``connect(address)`` joins or starts it: ``local``, a Ray runtime of this process, asked
for 127.0.0.1, with the dashboard off and usage stats off (``RAY_USAGE_STATS_ENABLED=0``:
nothing is reported anywhere); ``auto``, the running cluster Ray finds; otherwise
``HOST:PORT``. Ray 2.60 advertises a node started on 127.0.0.1 by its interface address
(``ray._private.services.resolve_ip_for_localhost``) and its servers listen on every
interface, guarded by Ray's token authentication (on by default since Ray 2.52); so
"this machine" is loopback and the machine's own addresses (``local_addresses``). Visits go to a cluster beyond this machine only over Ray's TLS
(``check_transport``): an address naming another host is refused before connecting,
and once connected every live node's address is checked the same way. This process's
network guard is then opened to the cluster's own addresses and nothing else.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy.policy import allow_cluster, enable_network_guard
from scribe.errors import ClusterError

logger = logging.getLogger("scribe.batch.ray_cluster")

# Ray's own TLS settings (Ray docs, "TLS Authentication"; read by
# ray._common.tls_utils.load_certs_from_env): with RAY_USE_TLS=1 every gRPC channel of
# the cluster is mutually authenticated and encrypted with these files.
TLS_VARIABLES = ("RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
NAMESPACE = "scribe"


@dataclass(frozen=True)
class Cluster:
    """The cluster a batch runs on: ``address`` as asked (``local``, ``auto``,
    ``HOST:PORT``), the IP ``addresses`` of its live nodes, its ``cpus`` (Ray's count),
    and ``tls`` (Ray's TLS on)."""

    address: str
    addresses: tuple[str, ...]
    cpus: int
    tls: bool


def _host_of(address: str) -> str | None:
    """The host part of ``HOST:PORT``, ``ray://HOST:PORT`` or ``[V6]:PORT``."""
    rest = address.split("://", 1)[-1].strip()
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest or None


def local_addresses() -> frozenset[str]:
    """This machine's own IP addresses (Linux: each interface's IPv4 address by the
    SIOCGIFADDR ioctl, IPv6 from /proc/net/if_inet6). Nothing is sent anywhere; traffic
    to these addresses never leaves the machine. Empty where they cannot be read."""
    found: set[str] = set()
    try:
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _, name in socket.if_nameindex():
                try:
                    # SIOCGIFADDR (0x8915, <linux/sockios.h>): struct ifreq, the address at bytes 20-24
                    packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
                    found.add(socket.inet_ntoa(packed[20:24]))
                except OSError:
                    pass  # an interface without an IPv4 address
    except (ImportError, OSError):
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.add(str(ipaddress.ip_address(bytes.fromhex(line.split()[0]))))
    except (OSError, ValueError, IndexError):
        pass
    return frozenset(found)


def _on_this_machine(host: str, local: frozenset[str]) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name: not known to be this machine
    return ip.is_loopback or str(ip) in local


def tls_configured(env: os._Environ | dict[str, str] = os.environ) -> bool:
    """Whether Ray's TLS is on (``RAY_USE_TLS`` 1 or true, as Ray reads it) with its
    three files named and readable."""
    if env.get("RAY_USE_TLS", "0").lower() not in ("1", "true"):
        return False
    return all(env.get(v) and os.access(env[v], os.R_OK) for v in TLS_VARIABLES)


def check_transport(address: str, hosts: Sequence[str], env: os._Environ | dict[str, str] = os.environ) -> None:
    """Refuse to send visits to ``hosts`` (the cluster's, or the one ``address`` names)
    unless all are this machine (loopback or one of its own addresses: Ray advertises a
    node by its interface address even when started on 127.0.0.1) or Ray's TLS is
    configured: raises ``ClusterError`` (exit 7), one line naming the address and what to
    set."""
    local = local_addresses()
    beyond = sorted({h for h in hosts if not _on_this_machine(h, local)})
    if beyond and not tls_configured(env):
        raise ClusterError(
            f"--ray {address}: the cluster reaches beyond this machine ({', '.join(beyond[:3])}) and Ray's TLS is "
            f"not configured (set RAY_USE_TLS=1, {', '.join(TLS_VARIABLES)} on every node); no visit was sent"
        )


def import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves this site
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray: pip install 'scribe[ray]'") from None
    return ray


@contextmanager
def connect(address: str, *, cpus: int | None = None) -> Iterator[Cluster]:
    """Join (``auto``, ``HOST:PORT``) or start (``local``: on 127.0.0.1, ``cpus`` CPUs,
    default this machine's; dashboard off) a Ray cluster; shut down on exit.

    An address naming a host beyond this machine is refused before connecting unless
    Ray's TLS is configured; once connected, every live node's address is checked the
    same way (``auto`` learns them only then). Raises ``ClusterError`` (exit 7)."""
    if address not in ("local", "auto"):
        host = _host_of(address)
        if not host:
            raise ClusterError(f"--ray {address}: not local, auto or HOST:PORT")
        check_transport(address, [host])
    ray = import_ray()
    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        # Nothing of ours is put in the object store (see scribe.batch.ray_runner): the
        # smallest store Ray accepts (75 MiB is its floor; 100 MiB here). A RAY_ADDRESS
        # in the environment would make ray.init join that cluster instead.
        os.environ.pop("RAY_ADDRESS", None)
        kwargs |= {"_node_ip_address": "127.0.0.1", "include_dashboard": False, "num_cpus": cpus or os.cpu_count(),
                   "object_store_memory": 100 * 1024 * 1024}
    else:
        kwargs["address"] = address
    # ray.init sets a SIGTERM handler of its own (sys.exit): the command's handler, which
    # ends a batch with one line and exit 143 (cli.app.interruptible), is put back.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(**kwargs)
    except Exception as e:  # ConnectionError, RuntimeError, ValueError: Ray's own wording is long
        raise ClusterError(f"--ray {address}: cannot reach the Ray cluster ({type(e).__name__})") from None
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        addresses = tuple(sorted({n["NodeManagerAddress"] for n in nodes}))
        check_transport(address, addresses)
        # This process talks to the cluster and to nothing else, as its workers do.
        enable_network_guard()
        allow_cluster(addresses)
        cluster = Cluster(address, addresses, int(ray.cluster_resources().get("CPU", 0)), tls_configured())
        logger.info("ray: %d node(s), %d CPU(s), tls %s", len(nodes), cluster.cpus, cluster.tls)
        yield cluster
    finally:
        ray.shutdown()
