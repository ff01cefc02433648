"""Which resolved plates a page is fetched from, and the check that they held it."""

from __future__ import annotations

from services.api import plate_pages
from services.api.plate_index import Candidate as C


def test_likely_plates_by_time_take_the_latest_read_plates_with_ties() -> None:
    found = {p: C(0, 0, last, 900) for p, last in zip("ABCDE", (50, 40, 40, 10, 5), strict=True)}
    likely = plate_pages.likely_plates(found, 2, by_score=False, upper=None, low_score=0)
    assert likely is not None and set(likely.plates) == {"A", "B", "C"} and likely.bound == (10,)
    # a page's upper time bound caps every plate's last time: A no longer comes first
    capped = plate_pages.likely_plates(found, 1, by_score=False, upper=40, low_score=0)
    assert capped is not None and set(capped.plates) == {"A", "B", "C"} and capped.bound == (10,)
    assert plate_pages.likely_plates(found, 5, by_score=False, upper=None, low_score=0) is None
    rows = [{"ts_ms": 50}, {"ts_ms": 40}, {"ts_ms": 11}]
    assert plate_pages.page_is_complete(rows, 3, likely, by_score=False)
    assert not plate_pages.page_is_complete(rows[:2], 3, likely, by_score=False)  # too few rows
    rows[2]["ts_ms"] = 10  # a plate left out may hold a row as late: not proven
    assert not plate_pages.page_is_complete(rows, 3, likely, by_score=False)


def test_likely_plates_by_score_take_whole_levels_when_confidences_tie() -> None:
    found = {p: C(score, 0, 0, 900) for p, score in zip("ABCDE", (4, 10, 10, 14, 0), strict=True)}
    likely = plate_pages.likely_plates(found, 2, by_score=True, upper=None, low_score=0)
    assert likely is not None and set(likely.plates) == {"E", "A"}
    assert likely.bound == (10, -900)
    level = plate_pages.likely_plates(found, 2, by_score=True, upper=None, low_score=4)
    assert level is not None and level.plates == {"A": 4, "B": 10, "C": 10}
    assert level.bound == (14, -900)
    rows = [{"score": 4, "conf_milli": 900}, {"score": 10, "conf_milli": 5}]
    assert plate_pages.page_is_complete(rows, 2, level, by_score=True)
    assert not plate_pages.page_is_complete(rows[:1], 2, level, by_score=True)


def test_likely_plates_by_score_take_the_best_confidences_of_a_level() -> None:
    # one plate at score 4, then a level of five at 10: the page of 3 needs the two best of it
    found = {
        "A": C(4, 0, 0, 700),
        "B": C(10, 0, 0, 990),
        "C": C(10, 0, 0, 950),
        "D": C(10, 0, 0, 950),
        "E": C(10, 0, 0, 600),
        "F": C(10, 0, 0, 400),
    }
    likely = plate_pages.likely_plates(found, 2, by_score=True, upper=None, low_score=0)
    assert likely is not None and likely.plates == {"A": 4, "B": 10}
    assert likely.bound == (10, -950)  # C and D could hold a row as good as 0.950
    likely = plate_pages.likely_plates(found, 3, by_score=True, upper=None, low_score=0)
    assert likely is not None and likely.plates == {"A": 4, "B": 10, "C": 10, "D": 10}  # the tie
    assert likely.bound == (10, -600)
    rows = [{"score": 4, "conf_milli": 700}, {"score": 10, "conf_milli": 990}]
    rows.append({"score": 10, "conf_milli": 601})
    assert plate_pages.page_is_complete(rows, 3, likely, by_score=True)
    rows[2]["conf_milli"] = 600  # E's best is as good: E may hold a row before it
    assert not plate_pages.page_is_complete(rows, 3, likely, by_score=True)
    # the cursor's score leaves out A; what a resolve left out comes after F: 0.399 at 10 at best
    likely = plate_pages.likely_plates(
        found, 4, by_score=True, upper=None, low_score=10, beyond=(-10, 399)
    )
    assert likely is not None and set(likely.plates) == {"B", "C", "D", "E"}
    assert likely.bound == (10, -400)
    likely = plate_pages.likely_plates(
        found, 5, by_score=True, upper=None, low_score=10, beyond=(-10, 399)
    )
    assert likely is None  # F is the fifth, and only a whole resolve knows what follows it


def test_within_times_drops_plates_read_only_outside_the_window() -> None:
    found = {"OLD": C(0, 0, 99, 900), "IN": C(0, 50, 150, 900), "NEW": C(0, 200, 300, 900)}
    assert set(plate_pages.within_times(found, 100, 200)) == {"IN"}
    assert set(plate_pages.within_times(found, None, None)) == set(found)
