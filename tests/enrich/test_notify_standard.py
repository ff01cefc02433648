"""Webhook requests carry the Standard Webhooks headers, signed as that spec's libraries verify."""

from __future__ import annotations

from services.enrich.notify import standard_signature


def test_signature_matches_the_spec_test_vector() -> None:
    # The test vector published with the Standard Webhooks specification.
    got = standard_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        b'{"test": 2432232314}',
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_plain_secret_is_used_as_bytes_and_changes_with_the_id() -> None:
    a = standard_signature("s3cret", "alert-1", "1700000000", b"{}")
    b = standard_signature("s3cret", "alert-2", "1700000000", b"{}")
    assert a.startswith("v1,") and a != b
