"""The real client behind reverse proxies, believed only from proxies the operator named.

A request's peer is the client unless the peer is a trusted proxy (one of the configured CIDRs:
``PLATESTREAM_API_TRUSTED_PROXIES``, ``PLATESTREAM_INGEST_TRUSTED_PROXIES``; default none). Then
the forwarding headers are read from the right: each hop a trusted proxy added is believed, and the
first address that is not a trusted proxy is the client; anything left of it could have been sent
by the client itself and is ignored. RFC 7239 ``Forwarded: for=...`` is read when present, else
``X-Forwarded-For``. A hop that is not an address (``unknown``, an obfuscated ``_name``, garbage)
ends the walk at the last address believed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS = 64
_FOR = re.compile(r'(?:^|[;,\s])for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def parse_cidrs(
    values: Iterable[str], *, setting: str = "trusted proxies"
) -> tuple[IPNetwork, ...]:
    """The networks of a list of CIDRs (a bare address is a /32 or /128); ValueError naming the
    setting and the bad entry otherwise."""
    out = []
    for cidr in values:
        try:
            out.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {cidr!r} is not a CIDR") from exc
    return tuple(out)


def _address(text: str) -> str | None:
    """An address from a forwarding hop (``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:443``,
    ``"[2001:db8::1]"``), or None when the hop is no address."""
    hop = text.strip().strip('"').strip()
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:  # IPv4 with a port
        hop = hop.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def forwarded_hops(forwarded: Sequence[str], x_forwarded_for: Sequence[str]) -> list[str]:
    """The hops, left to right, of the ``Forwarded`` header when sent, else of ``X-Forwarded-For``
    (every line of a repeated header, in order); at most the last ``MAX_HOPS``."""
    if any(line.strip() for line in forwarded):
        hops = [m.group(1) for line in forwarded for m in _FOR.finditer(line[:8192])]
    else:
        hops = [h for line in x_forwarded_for for h in line[:8192].split(",")]
    return hops[-MAX_HOPS:]


def forwarded_client(
    peer: str,
    x_forwarded_for: Sequence[str],
    proxies: Sequence[IPNetwork],
    forwarded: Sequence[str] = (),
) -> str:
    """The client address: ``peer`` unless it is a trusted proxy, then the right-most forwarded
    hop that is not itself a trusted proxy."""

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in proxies)

    if not proxies or not trusted(peer):
        return peer
    client = peer
    for hop in reversed(forwarded_hops(forwarded, x_forwarded_for)):
        addr = _address(hop)
        if addr is None:
            break  # garbage from further left cannot be believed
        client = addr
        if not trusted(addr):
            break
    return client


def request_client(request: Any, proxies: Sequence[IPNetwork]) -> str | None:
    """The client of a Starlette/FastAPI request or WebSocket behind ``proxies``; None when the
    server knows no peer."""
    peer = request.client.host if request.client else None
    if peer is None or not proxies:
        return peer
    headers = request.headers
    return forwarded_client(
        peer, headers.getlist("x-forwarded-for"), proxies, headers.getlist("forwarded")
    )
