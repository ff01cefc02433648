"""The topic catalogue."""

from __future__ import annotations

from platestream import topics


def test_names_are_versioned_and_unique():
    names = [t.name for t in topics.ALL]
    assert len(names) == len(set(names))
    assert all(n.startswith("anpr.") and n.endswith(".v1") for n in names)


def test_required_topics_exist():
    required = {
        "anpr.camera-events.v1",
        "anpr.frames.v1",
        "anpr.plate-reads.v1",
        "anpr.plate-events.v1",
        "anpr.alerts.v1",
        "anpr.bolo.v1",
        "anpr.cameras.v1",
        "anpr.corrections.v1",
        "anpr.camera-status.v1",
        "anpr.audit.v1",
    }
    assert required <= set(topics.BY_NAME)


def test_state_topics_are_compacted_and_streams_are_not():
    assert topics.BOLO.config()["cleanup.policy"] == "compact"
    assert topics.CAMERAS.config()["cleanup.policy"] == "compact"
    assert topics.PLATE_READS.config()["cleanup.policy"] == "delete"


def test_one_dead_letter_topic_per_stage():
    dlq = {t.name for t in topics.DEAD_LETTERS}
    assert dlq == {f"anpr.dlq.{s}.v1" for s in topics.STAGES}
