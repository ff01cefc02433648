"""Failed device logins are throttled per key; other keys and later windows are not."""

from __future__ import annotations

from services.ingest.loginthrottle import LoginThrottle


def test_an_address_over_the_limit_waits_for_its_window_and_others_do_not() -> None:
    now = [100.0]
    t = LoginThrottle(max_failures=3, window_s=60, max_keys=2, clock=lambda: now[0])
    for _ in range(2):
        t.failed("10.0.0.1")
    assert t.retry_after("10.0.0.1") == 0
    t.failed("10.0.0.1")
    assert t.retry_after("10.0.0.1") == 60
    assert t.retry_after("10.0.0.2") == 0
    now[0] += 59.5
    assert t.retry_after("10.0.0.1") == 0.5
    now[0] += 1
    assert t.retry_after("10.0.0.1") == 0
    t.failed("10.0.0.1")
    assert t.retry_after("10.0.0.1") == 0  # a new window starts from one failure


def test_the_table_is_bounded() -> None:
    t = LoginThrottle(max_failures=1, max_keys=2)
    for address in ("a", "b", "c"):
        t.failed(address)
    assert t.retry_after("a") == 0 and t.retry_after("b") > 0 and t.retry_after("c") > 0
