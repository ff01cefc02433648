"""Which of a pattern's resolved plates hold a page, and the check that they did.

A wildcard or fuzzy pattern can resolve to thousands of plates (`services.api.plate_index`), but a
page needs few: `likely_plates` picks, from what the dictionary says of each plate, the plates
that hold the page if every plate keeps a row after the filters; `page_is_complete` checks on the
rows fetched from them that no plate left out could have come before the page's last row. When
one could, the caller widens the set or fetches the page from all of it.

Sorted by time, a plate's rows come no later than its last_seen. Sorted by score, a page is
ordered by (score, confidence desc), and a plate's rows come no sooner than (its score, its best
confidence): ``best_confidence``, which the variant index (migration 015) and the dictionaries
(016) keep. A page whose score level holds hundreds of plates (two edits), or a wildcard's page
(every plate scores 0), is fetched from the few with the best confidences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api.plate_index import Candidate, time_key


@dataclass(frozen=True)
class Likely:
    """The plates a page is fetched from first, and the bound no plate left out can beat:
    by time ``(ts,)``, the latest time a plate left out can have been read; by score
    ``(score, -conf_milli)``, the soonest place in the page's order a plate left out can hold."""

    plates: dict[str, int]  # plate -> score
    bound: tuple[int, ...]


def within_times(
    found: dict[str, Candidate], since_ms: int | None, until_ms: int | None
) -> dict[str, Candidate]:
    """The plates read at least once in [since, until) by the dictionary's first/last seen."""
    return {
        p: c
        for p, c in found.items()
        if (since_ms is None or c.last_ms >= since_ms)
        and (until_ms is None or c.first_ms < until_ms)
    }


def likely_plates(
    found: dict[str, Candidate],
    count: int,
    *,
    by_score: bool,
    upper: int | None,
    low_score: int,
    beyond: tuple[int, ...] | None = None,
) -> Likely | None:
    """The fewest plates, at least ``count``, that hold the first ``count`` rows if each plate
    keeps a row; None when that is all of them, or when ``found`` is the start of a larger set
    (``beyond``, as in `plate_index.Resolved`) that holds fewer than ``count`` plates.

    By time, each plate contributes a row at its last_seen (capped by ``upper``, the page's time
    bound), so the ``count`` plates read last, with ties, hold the ``count`` latest rows. By score,
    plates below ``low_score`` (a cursor's) have no row left, and the ``count`` plates first by
    (score, best confidence), with ties, are taken: a plate's rows come no sooner than that.
    """
    if len(found) <= count:
        return None
    if by_score:
        ranked = sorted(
            (c.score, -c.conf_milli, p) for p, c in found.items() if c.score >= low_score
        )
        if len(ranked) <= count:
            return None
        cut = ranked[count - 1][:2]
        plates = {p: s for s, nc, p in ranked if (s, nc) <= cut}
        rest = [(s, nc) for s, nc, _ in ranked if (s, nc) > cut]
        rest += [(-beyond[0], -beyond[1])] if beyond is not None else []  # (-score, conf)
        return Likely(plates, min(rest)) if rest else None
    tops = sorted(((time_key(c, upper), p) for p, c in found.items()), reverse=True)
    edge = tops[count - 1][0]
    plates = {p: found[p].score for t, p in tops if t >= edge}
    later = [t for t, _ in tops if t < edge] + ([beyond[0]] if beyond is not None else [])
    return Likely(plates, (max(later),)) if later else None


def page_is_complete(
    rows: list[dict[str, Any]], need: int, likely: Likely, *, by_score: bool
) -> bool:
    """Whether ``rows`` (fetched from the likely plates) are the page the whole set gives."""
    if len(rows) < need:
        return False  # filters or corrections emptied some plates: a plate left out may have rows
    last = rows[need - 1]
    if by_score:
        return (int(last["score"]), -int(last["conf_milli"])) < likely.bound
    return (int(last["ts_ms"]),) > likely.bound
