"""Failure windows per account and the client address behind trusted proxies (no server)."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from services.api.deps import forwarded_client
from services.api.ratelimit import FailureWindow
from services.api.settings import ApiSettings


def test_failure_window_blocks_after_the_limit_until_the_oldest_leaves() -> None:
    w = FailureWindow(3, 60.0)
    for t in (0.0, 10.0, 20.0):
        assert w.blocked("u", now=t) == 0.0
        w.fail("u", now=t)
    assert w.blocked("u", now=30.0) == pytest.approx(30.0)  # until the failure at 0 is 60 s old
    assert w.blocked("other", now=30.0) == 0.0
    assert w.blocked("u", now=60.5) == 0.0
    w.fail("u", now=61.0)
    assert w.blocked("u", now=62.0) == pytest.approx(8.0)  # failures at 10, 20, 61


def test_failure_window_is_bounded() -> None:
    w = FailureWindow(1, 60.0, max_keys=2)
    for key in ("a", "b", "c"):
        w.fail(key, now=0.0)
    assert w.blocked("a", now=1.0) == 0.0  # forgotten, the least recent
    assert w.blocked("c", now=1.0) > 0


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.5", ["198.51.100.7"], "203.0.113.5"),  # untrusted peer: header ignored
        ("10.1.1.1", [], "10.1.1.1"),
        ("10.1.1.1", ["198.51.100.7"], "198.51.100.7"),
        ("10.1.1.1", ["1.2.3.4, 198.51.100.7, 10.2.2.2"], "198.51.100.7"),  # forged left part
        ("10.1.1.1", ["1.2.3.4", "198.51.100.7"], "198.51.100.7"),  # several header lines
        ("10.1.1.1", ["junk, 198.51.100.7"], "198.51.100.7"),
        ("10.1.1.1", ["198.51.100.7, junk"], "10.1.1.1"),
        ("10.1.1.1", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),  # all proxies: the left-most
        ("fd00::1", ["2001:db8::9"], "2001:db8::9"),
    ],
)
def test_forwarded_client(peer: str, xff: list[str], expected: str) -> None:
    assert forwarded_client(peer, xff, PROXIES) == expected


def test_trusted_proxies_setting_is_validated() -> None:
    assert ApiSettings().api_trusted_proxies == []
    assert ApiSettings(api_trusted_proxies=["10.0.0.0/8"]).api_trusted_proxies == ["10.0.0.0/8"]
    with pytest.raises(ValidationError, match="not a CIDR"):
        ApiSettings(api_trusted_proxies=["proxy.local"])
