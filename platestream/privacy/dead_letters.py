"""Erasure reaches the dead letters: erasing a plate punctures the keys of the dead letters that
mention it.

A dead letter keeps what a stage could not read (a device's payload that did not parse, a record
that failed to decode, a refused request) with the error, so no stage knew its plate when it was
written. With ``privacy_seal_topics`` on, the dead letters of one stage in one second are sealed
under a key of their own (``dead_letter:<stage>:<second>``, platestream/privacy/shredding.py),
which no plate's erasure names. When a plate is erased, :func:`erase_mentions` reads every stage's
dead-letter topic from its start, opens each dead letter, and looks for the plate in its payload,
its key and its error: every run of letters and digits, and every two or three neighbouring runs
joined (``ABC 1234``, ``AB-12-CD``), normalised as plates are, is hashed as a subject id is and
compared with the erased plates'. The key of each dead letter that mentions one is punctured in
the one tree that sealed it (`SubjectKeys.puncture_keys`).

Errs on the side of erasing: the other dead letters of that stage and second stop opening too (a
key per record cost a key derivation per dead letter, about twice the CPU of writing one sealed,
docs/privacy.md), and neighbouring runs that happen to spell the plate (``"AB","C123"``) count as
a mention. Costs: a read of every dead letter kept (30 days) per erasure, each opened and its
text hashed; measured in docs/privacy.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer

from platestream import topics as catalogue
from platestream.errors import SerdeError
from platestream.kafka import read_to_end
from platestream.plates import normalise
from platestream.privacy.shredding import Shredded, Shredder, kid_of
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings

logger = logging.getLogger(__name__)

JOIN = 3  # neighbouring runs joined into one candidate: "AB 12 CD"
MIN_LEN, MAX_LEN = 2, 16  # normalised plates outside these lengths are not looked for
RUNS = re.compile(r"[^\W_]+")  # letters and digits of any script, as normalise keeps them
# Keys one erasure punctures at most: each adds about 10 KiB to a tree the stages reading records
# of that time read again (a device flood repeating the plate for hours would make thousands).
MAX_KEYS = 1000
SEEN = 100_000  # candidates whose answer a scan remembers (a few MiB)
HEAD, TAIL = 256 * 1024, 64 * 1024  # bytes of a large payload scanned: its start and its end


def iter_candidates(texts: Iterable[str]) -> Iterator[str]:
    """Every normalised run of letters and digits of ``texts``, and every two or three
    neighbouring runs joined, of a plate's length; lazily, so a dead letter of megabytes (a
    payload with an image) costs time in proportion to it and memory of a few runs."""
    for text in texts:
        window: list[str] = []
        for match in RUNS.finditer(text):
            run = match.group()
            window = [*window[1 - JOIN :], run.upper() if run.isascii() else normalise(run)]
            for start in range(len(window)):  # the runs ending with this one
                joined = "".join(window[start:])
                if MIN_LEN <= len(joined) <= MAX_LEN:
                    yield joined


def candidates(texts: Iterable[str]) -> set[str]:
    """`iter_candidates`, as a set."""
    return set(iter_candidates(texts))


def texts_of(dead_letter: dict[str, Any]) -> list[str]:
    """The opened dead letter's error, key and payload as text (bytes read as UTF-8); of a
    payload larger than ``HEAD + TAIL`` bytes, its start and its end only (device payloads put
    their metadata before or after an image; bounds the time a scan spends on one)."""
    out = [dead_letter.get("error") or ""]
    for name in ("key", "value"):
        value = dead_letter.get(name)
        if isinstance(value, bytes):
            parts = (value,) if len(value) <= HEAD + TAIL else (value[:HEAD], value[-TAIL:])
            out.extend(part.decode("utf-8", "replace") for part in parts)
    return out


def key_id(sealed: dict[str, Any]) -> str | None:
    """The key id a dead letter was sealed under, read from its sealed fields (None: not sealed)."""
    return kid_of(sealed.get("value")) or kid_of(sealed.get("error"))


def mentions(
    records: Iterable[bytes], plain: AvroSerde, shredder: Shredder, subjects: set[str]
) -> tuple[list[str], int]:
    """The key ids of the dead letters (encoded records) that mention a plate whose subject id is
    in ``subjects``, and how many dead letters were read."""
    kids: list[str] = []
    read = 0
    sid_of = shredder.subject_id.uncached  # a payload's runs would crowd out the plates' ids
    seen: dict[str, bool] = {}  # candidate -> names an erased plate (field names repeat)

    def erased(candidate: str) -> bool:
        hit = seen.get(candidate)
        if hit is None:
            if len(seen) >= SEEN:
                seen.clear()
            hit = seen[candidate] = sid_of(candidate) in subjects
        return hit

    for data in records:
        read += 1
        try:
            sealed = plain.decode(data)
        except SerdeError:
            continue  # not a dead letter of ours: nothing it holds opens with our keys
        kid = key_id(sealed)
        if kid is None:
            continue  # written before sealing was on: in clear until its retention
        try:
            opened = shredder.open("dead_letter", sealed)
        except SerdeError:  # Shredded included: erased already, or its tree ended
            continue
        if any(erased(c) for c in iter_candidates(texts_of(opened))):
            kids.append(kid)
    return kids, read


def latest_keys(kids: list[str], most: int) -> list[str]:
    """The distinct key ids of ``kids`` (one per stage and second), the ``most`` read last: the
    older dead letters leave the topics first."""
    keys = list(dict.fromkeys(kids))
    if len(keys) > most:
        logger.warning(
            "erasure: dead letters under %d keys mention the plate; the %d read last punctured, "
            "the others open until their tree ends",
            len(keys),
            most,
        )
    return keys[-most:] if most > 0 else []


def erase_mentions(
    settings: CommonSettings,
    shredder: Shredder,
    subjects: set[str],
    make_consumer: Callable[[], Consumer],
    most: int = MAX_KEYS,
) -> tuple[int, int]:
    """Puncture the keys of every dead letter that mentions an erased plate (``subjects``: their
    subject ids), at most ``most`` keys; returns (keys punctured, dead letters read). Raises on a
    broker or key bucket failure: the caller retries the whole erasure."""
    plain = AvroSerde(settings.schema_registry_url)
    topics = [settings.topic(t.name) for t in catalogue.DEAD_LETTERS]
    consumer = make_consumer()
    try:
        # a scan that reads nothing for a minute fails the erasure, which is retried
        values = (m.value() for m in read_to_end(consumer, topics, stall_s=60.0))
        kids, read = mentions((v for v in values if v is not None), plain, shredder, subjects)
    finally:
        consumer.close()
    keys = latest_keys(kids, most)
    punctured = shredder.keys.puncture_keys(keys) if keys else 0
    logger.info("erasure: %d of %d dead letters mention the plate", len(kids), read)
    return punctured, read


__all__ = ["Shredded", "candidates", "erase_mentions", "iter_candidates", "latest_keys", "mentions"]
