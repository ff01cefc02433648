"""Hit images kept longer in the bucket (issue 17 item 1): the images of a plate event with a
watchlist hit, watchlisted or corrected are tagged retention=hit, the others retention=short; the
bucket's lifecycle has a rule per tag; the retention report tells, with a controlled clock, which
objects are past their policy."""

from __future__ import annotations

import io

import pytest
from minio.commonconfig import Tags

from platestream.errors import BadInputError
from platestream.privacy.retention import DAY_MS, s3_reports
from platestream.s3 import make_s3
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.image_retention import HIT, SHORT, event_marks, is_hit
from services.sink.imagekeys import image_slots
from services.sink.s3_sink import (
    FRAMES_RULE_ID,
    HIT_RULE_ID,
    LIFECYCLE_RULE_ID,
    UNTAGGED_RULE_ID,
    ensure_bucket_with_lifecycle,
    lifecycle_rules,
)
from tests.security.avro_strategies import EXAMPLES
from tests.sink.helpers import dead_letters, produce, sink_settings, sink_thread, wait_until


# ---- pure logic --------------------------------------------------------------------------------
def _event(i: int, **fields: object) -> dict[str, object]:
    return {**samples.plate_event(i, base_ts=1_760_000_000_000), **fields}


def test_what_counts_as_a_hit() -> None:
    assert not is_hit(_event(1))
    assert is_hit(_event(1, watchlist_hits=["stolen"]))
    assert is_hit(_event(1, access_status="watchlisted"))
    assert is_hit(_event(1, correction_id="c-1"))
    assert not is_hit(_event(1, access_status="allowed", watchlist_hits=[]))


def test_marks_of_an_event() -> None:
    claim = samples.image("plate", data=None, s3_key="crops/cam/claim.jpg")
    scene = samples.image("scene")  # inline: the S3 sink stores (and tags) it
    hit = _event(1, watchlist_hits=["stolen"], best_crop=claim, images=[scene])
    marks = event_marks(hit, "t[0]@1", originals=True)
    scene_key = image_slots("plate_event", hit)[1].key
    assert [(m.key, m.value) for m in marks] == [
        ("crops/cam/claim.jpg", HIT),
        ("originals/crops/cam/claim.jpg", HIT),
        (scene_key, HIT),
        ("originals/" + scene_key, HIT),
    ]
    plain = _event(2, best_crop=claim, images=[scene])
    # no hit: only the image the sink did not store (and tag) gets `short`
    assert [(m.key, m.value) for m in event_marks(plain, "t[0]@2")] == [
        ("crops/cam/claim.jpg", SHORT)
    ]
    # keys no store takes are bad input (dead-lettered), never retried: '..' or only blanks
    for key in ("crops/../x.jpg", " "):
        bad = _event(3, best_crop=samples.image("plate", data=None, s3_key=key))
        with pytest.raises(BadInputError):
            event_marks(bad, "t[0]@3")


def test_lifecycle_rules_per_tag_and_a_bound_for_untagged_objects() -> None:
    def view(rules: list) -> list[tuple[str, int, str, object]]:
        return [
            (
                r.rule_id,
                r.expiration.days,
                r.rule_filter.prefix,
                (r.rule_filter.tag.key, r.rule_filter.tag.value) if r.rule_filter.tag else None,
            )
            for r in rules
        ]

    assert view(lifecycle_rules(90, 365)) == [
        (LIFECYCLE_RULE_ID, 90, None, ("retention", "short")),
        (HIT_RULE_ID, 365, None, ("retention", "hit")),
        (UNTAGGED_RULE_ID, 365, "", None),
    ]
    # no longer policy for hits: the one whole-bucket rule of before; 0 days: none
    assert view(lifecycle_rules(90, 90)) == [(LIFECYCLE_RULE_ID, 90, "", None)]
    assert view(lifecycle_rules(90, None)) == [(LIFECYCLE_RULE_ID, 90, "", None)]
    assert lifecycle_rules(0, 365) == []
    # frames stored for detect: kept as long as the frames topic, beside either set of rules
    assert view(lifecycle_rules(90, 365, 1))[-1] == (FRAMES_RULE_ID, 1, "frames/", None)
    assert view(lifecycle_rules(90, None, 1)) == [
        (LIFECYCLE_RULE_ID, 90, "", None),
        (FRAMES_RULE_ID, 1, "frames/", None),
    ]
    assert len(lifecycle_rules(90, 365, 0)) == len(lifecycle_rules(90, 365, 120)) == 3


# ---- against the real broker and bucket --------------------------------------------------------
def _tags(s3, bucket: str, key: str) -> dict[str, str]:
    return dict(s3.get_object_tags(bucket, key) or {})


def _put(s3, bucket: str, key: str, tags: dict[str, str] | None = None) -> None:
    t = None
    if tags:
        t = Tags.new_object_tags()
        t.update(tags)
    s3.put_object(bucket, key, io.BytesIO(samples.TINY_JPEG), len(samples.TINY_JPEG), tags=t)


@pytest.mark.integration
def test_hit_images_are_tagged_and_the_others_short(settings) -> None:
    s = sink_settings(settings, s3_retention_days=30, sink_retention_days_plate_events=365)
    s3 = make_s3(s)
    bucket = s.s3_bucket
    ensure_bucket_with_lifecycle(s3, bucket, 30, 365)
    # crops detect stored by claim check before the events: untagged; one already a hit
    for key in ("crops/cam/hit.jpg", "crops/cam/listed.jpg", "crops/cam/plain.jpg"):
        _put(s3, bucket, key)
    _put(s3, bucket, "crops/cam/kept.jpg", {"retention": HIT, "owner": "case-7"})
    base = now_ms() - 60_000

    def claim(key: str) -> dict[str, object]:
        return samples.image("plate", data=None, s3_key=key)

    hit = samples.plate_event(1, base_ts=base)
    hit.update(watchlist_hits=["stolen"], best_crop=claim("crops/cam/hit.jpg"))
    hit["images"] = [samples.image("scene")]  # inline: stored by the S3 sink with the tag
    listed = samples.plate_event(2, base_ts=base)
    listed.update(access_status="watchlisted", best_crop=claim("crops/cam/listed.jpg"))
    plain = samples.plate_event(3, base_ts=base)
    plain.update(best_crop=claim("crops/cam/plain.jpg"))
    plain["images"] = [samples.image("scene")]
    gone = samples.plate_event(4, base_ts=base)  # its crop expired or was never stored
    gone.update(correction_id="corr-4", best_crop=claim("crops/cam/gone.jpg"))
    shared = samples.plate_event(5, base_ts=base)  # no hit, but its crop is a hit's: kept
    shared.update(best_crop=claim("crops/cam/kept.jpg"))
    bad = samples.plate_event(6, base_ts=base)  # a key no store takes: dead-lettered
    bad.update(watchlist_hits=["stolen"], best_crop=claim("crops/../escape.jpg"))
    produce(s, "plate_events", [hit, listed, plain, gone, shared, bad])
    hit_scene = image_slots("plate_event", hit)[1].key
    plain_scene = image_slots("plate_event", plain)[1].key

    def tagged() -> bool:
        try:
            return (
                _tags(s3, bucket, "crops/cam/hit.jpg").get("retention") == HIT
                and _tags(s3, bucket, "crops/cam/listed.jpg").get("retention") == HIT
                and _tags(s3, bucket, "crops/cam/plain.jpg").get("retention") == SHORT
                and _tags(s3, bucket, hit_scene).get("retention") == HIT
                and _tags(s3, bucket, plain_scene).get("retention") == SHORT
            )
        except Exception:  # the sink has not stored the inline scenes yet
            return False

    with sink_thread(s, {"s3"}):
        wait_until(tagged, 60, "the retention tags")
        dlq = dead_letters(s, 1)
        # a replay in log order: the hit's first version (no hit yet), the hit, the shared one
        produce(s, "plate_events", [{**hit, "version": 0, "watchlist_hits": []}, hit, shared])
        marker = samples.plate_event(9, base_ts=base)  # the hit's camera: its partition, after
        assert marker["camera_id"] == hit["camera_id"]
        marker.update(best_crop=claim("crops/cam/marker.jpg"))
        _put(s3, bucket, "crops/cam/marker.jpg")
        produce(s, "plate_events", [marker])
        wait_until(
            lambda: _tags(s3, bucket, "crops/cam/marker.jpg").get("retention") == SHORT,
            60,
            "the marker event after the replay",
        )
    assert _tags(s3, bucket, "crops/cam/hit.jpg") == {"retention": HIT}  # never taken back
    assert _tags(s3, bucket, hit_scene) == {"retention": HIT}
    assert _tags(s3, bucket, "crops/cam/kept.jpg") == {"retention": HIT, "owner": "case-7"}
    assert not any(o.object_name == "crops/cam/gone.jpg" for o in s3.list_objects(bucket))
    assert len(dlq) == 1 and "'..' segment" in dlq[0]["error"], dlq
    rules = {r.rule_id: r.expiration.days for r in s3.get_bucket_lifecycle(bucket).rules}
    assert rules == {
        LIFECYCLE_RULE_ID: 30,
        HIT_RULE_ID: 365,
        UNTAGGED_RULE_ID: 365,
        FRAMES_RULE_ID: 1,
    }


@pytest.mark.integration
def test_retention_report_tells_which_objects_are_past_their_policy(settings) -> None:
    s3 = make_s3(settings)
    bucket = settings.s3_bucket
    ensure_bucket_with_lifecycle(s3, bucket, 30, 365)
    _put(s3, bucket, "crops/a/short.jpg", {"retention": SHORT})
    _put(s3, bucket, "crops/a/hit.jpg", {"retention": HIT})
    _put(s3, bucket, "frames/a/untagged.jpg")
    now = now_ms()

    def lines(at: int) -> dict[str, tuple[int | None, str]]:
        return {r.name: (r.records, r.flag) for r in s3_reports(s3, bucket, now=at)}

    short, hit, untagged = (
        f"{bucket}/ [retention=short]",
        f"{bucket}/ [retention=hit]",
        f"{bucket}/",
    )
    assert lines(now) == {short: (1, ""), hit: (1, ""), untagged: (1, "")}
    # 31 days on: the short object is past its 30 days; the hit and the untagged one are not
    assert lines(now + 31 * DAY_MS) == {short: (1, "past policy"), hit: (1, ""), untagged: (1, "")}
    # 366 days on: everything is
    assert lines(now + 366 * DAY_MS) == {
        short: (1, "past policy"),
        hit: (1, "past policy"),
        untagged: (1, "past policy"),
    }
    # a rule's due date is its oldest object's time plus its days
    due = {r.name: r.expires_ms - r.oldest_ms for r in s3_reports(s3, bucket, now=now)}
    assert due == {short: 30 * DAY_MS, hit: 365 * DAY_MS, untagged: 365 * DAY_MS}


@pytest.mark.parametrize("examples", EXAMPLES)
def test_every_plate_event_is_marked_or_dead_lettered(examples: int) -> None:
    """Schema-valid extreme plate events: marks with keys a store takes, or a bad-input rejection."""
    import threading

    from hypothesis import given
    from minio.helpers import check_object_name

    from platestream.bench.inmemory import InMemoryMessage
    from services.sink.image_retention import ImageRetention
    from services.sink.settings import SinkSettings
    from tests.security.avro_strategies import SERDE, encoded, fuzz
    from tests.security.test_fuzz_consumers import DeadLetters

    dlq = DeadLetters()
    loop = ImageRetention(
        settings=SinkSettings(sink_s3_redact_keep_originals=True),
        consumer=None,  # type: ignore[arg-type]
        s3=None,  # type: ignore[arg-type]
        serde=SERDE,
        dead_letters=dlq,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        stop=threading.Event(),
    )

    @given(encoded("plate_event"))
    @fuzz(examples, "sink: image retention marks")
    def collect(value: bytes) -> None:
        marks, offsets = loop.collect([InMemoryMessage(loop.topic, 0, 1, value, b"k")])  # type: ignore[list-item]
        assert offsets == {(loop.topic, 0): 2}
        for mark in marks:
            check_object_name(mark.key)  # the S3 client takes it: no endless retry
            assert mark.value in (HIT, SHORT)

    collect()
    loop._pool.shutdown()
