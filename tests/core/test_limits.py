"""The shared bounds on untrusted text: plates, camera ids, object keys and RE2 regexes."""

from __future__ import annotations

import time

import pytest

from platestream.errors import BadInputError
from platestream.limits import (
    MAX_PLATE_CHARS,
    MAX_PLATE_RAW_CHARS,
    check_camera_id,
    check_object_key,
    check_plate,
    check_raw_plate,
    compile_regex,
)


def test_plate_caps_and_character_classes() -> None:
    assert check_plate("AB123CD") == "AB123CD"
    assert check_plate("粤B12345") == "粤B12345"
    assert check_plate("A" * MAX_PLATE_CHARS) == "A" * MAX_PLATE_CHARS
    with pytest.raises(BadInputError, match="exceeds the limit of 32"):
        check_plate("A" * (MAX_PLATE_CHARS + 1))
    with pytest.raises(BadInputError, match="other than letters and digits"):
        check_plate("AB 123")
    check_raw_plate("AB-123 CD")
    with pytest.raises(BadInputError, match="exceeds the limit of 64"):
        check_raw_plate("A" * (MAX_PLATE_RAW_CHARS + 1))
    with pytest.raises(BadInputError, match="control"):
        check_raw_plate("AB\x00123")
    with pytest.raises(BadInputError, match="control"):
        check_raw_plate("AB\ud800")


@pytest.mark.parametrize("good", ["cam-1", "gate.north:2", "A", "x" * 64])
def test_camera_ids_that_are_accepted(good: str) -> None:
    assert check_camera_id(good) == good


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "-cam", "cam 1", "x" * 65, None, 7])
def test_camera_ids_that_are_refused(bad: object) -> None:
    with pytest.raises(BadInputError, match="camera id"):
        check_camera_id(bad)


def test_object_keys() -> None:
    assert check_object_key("crops/cam-1/2026/01/01/00/1-a-plate.jpg")
    for bad in ("images/../x.jpg", "images/./x.jpg", "/abs", "a//b", "", "k" * 1025, "a\x00b"):
        with pytest.raises(BadInputError):
            check_object_key(bad)


def test_regexes_run_in_linear_time_and_backtracking_features_are_refused() -> None:
    evil = compile_regex("(A|AA)*(A|AA)*(A|AA)*B")
    started = time.perf_counter()
    assert evil.fullmatch("A" * MAX_PLATE_CHARS) is None
    # Python's re took 1.5 s at 24 characters here, about 6x more per 4 characters.
    assert time.perf_counter() - started < 0.05
    assert compile_regex("[A-Z]{2}[0-9]{3,4}").fullmatch("AB1234") is not None
    for refused, why in (
        (r"(A)\1", "invalid escape"),
        ("(?=A)A", "invalid perl operator"),
        ("A" * 65, "exceeds the limit"),
        ("(", "missing"),
    ):
        with pytest.raises(BadInputError, match=why):
            compile_regex(refused)
