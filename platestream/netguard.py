"""Outbound targets users configure (alert webhooks, MQTT and SMTP hosts): refuse the ones that
reach into the platform itself: loopback, link-local (which holds the cloud metadata service),
metadata host names and unspecified addresses, unless private targets are allowed.

Site networks (RFC 1918) stay allowed: ANPR receivers (barrier controllers, VMS) usually live
there. Names are resolved, so ``localhost`` or a name pointing at 127.0.0.1 is refused as well;
a name that does not resolve now is left to the sender, which checks again before each send.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"}
)
METADATA_ADDRS = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"})


class TargetRefused(ValueError):
    """The target is refused; the message says why."""


def _refused_addr(addr: str) -> str | None:
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_ADDRS:
        return f"{ip} is a cloud metadata address"
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not a unicast address"
    return None


def check_host(host: str, *, allow_private: bool, resolve: bool = True) -> None:
    """Raise ``TargetRefused`` if ``host`` (name or address) is one the platform must not call."""
    if allow_private:
        return
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        raise TargetRefused("no host")
    if name in METADATA_HOSTS or name == "localhost" or name.endswith(".localhost"):
        raise TargetRefused(f"{name} is a local or metadata host name")
    why = _refused_addr(name)
    if why:
        raise TargetRefused(why)
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return
    for info in infos:
        why = _refused_addr(str(info[4][0]))
        if why:
            raise TargetRefused(f"{name} resolves to {why}")


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> None:
    """An http(s) URL with a host; its host as ``check_host``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed: use the signing secret")
    if port == 0:
        raise TargetRefused("port 0")
    check_host(parts.hostname, allow_private=allow_private, resolve=resolve)
