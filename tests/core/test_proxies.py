"""platestream/proxies.py: forwarded headers believed only from trusted proxies, read from the right."""

from __future__ import annotations

import pytest

from platestream.proxies import forwarded_client, forwarded_hops, parse_cidrs

PROXIES = parse_cidrs(["10.0.0.0/8", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("peer", "xff", "fwd", "expected"),
    [
        ("203.0.113.9", ["198.51.100.1"], [], "203.0.113.9"),  # untrusted peer: headers ignored
        ("203.0.113.9", [], ["for=198.51.100.1"], "203.0.113.9"),
        ("10.0.0.2", ["198.51.100.1"], [], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.3"], [], "198.51.100.1"),  # forged left part
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], [], "198.51.100.1"),  # repeated header lines
        ("10.0.0.2", ["junk, 198.51.100.1"], [], "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.1, junk"], [], "10.0.0.2"),  # garbage next to us: the peer
        ("10.0.0.2", [], [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.7"], [], "10.0.0.7"),  # only proxies: the left-most one
        # RFC 7239 Forwarded wins over X-Forwarded-For when both are sent
        ("10.0.0.2", ["6.6.6.6"], ["for=198.51.100.1;proto=https;by=10.0.0.2"], "198.51.100.1"),
        ("10.0.0.2", [], ["for=6.6.6.6, for=198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", [], ['for="198.51.100.1:4711"'], "198.51.100.1"),
        ("10.0.0.2", [], ['For="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
        ("10.0.0.2", [], ["for=unknown"], "10.0.0.2"),
        ("10.0.0.2", [], ["for=_hidden, for=198.51.100.1"], "198.51.100.1"),
        ("2001:db8:ffff::1", ["2001:db8:cafe::17"], [], "2001:db8:cafe::17"),
    ],
)
def test_forwarded_client(peer: str, xff: list[str], fwd: list[str], expected: str) -> None:
    assert forwarded_client(peer, xff, PROXIES, fwd) == expected


def test_no_proxies_configured_means_the_peer() -> None:
    assert forwarded_client("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"


def test_hops_are_bounded() -> None:
    hops = forwarded_hops([], [", ".join(["198.51.100.1"] * 10_000)])
    assert len(hops) <= 64


@pytest.mark.parametrize("bad", ["proxy.local", "10.0.0.0/33", ""])
def test_bad_cidr_names_the_setting(bad: str) -> None:
    with pytest.raises(ValueError, match="ingest_trusted_proxies"):
        parse_cidrs([bad], setting="ingest_trusted_proxies")
