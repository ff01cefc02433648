"""Each push format's parser fed mutated real payloads: it answers events within the caps or a
BadInputError, within the per-record budget, for every one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platestream.errors import BadInputError, SerdeError
from platestream.limits import MAX_PLATE_CHARS, MAX_PLATE_RAW_CHARS
from services.ingest.formats import PARSERS
from tests.ingest.test_fuzz import CONTENT_TYPES, corpus, mutate
from tests.security.avro_strategies import EXAMPLES, SERDE, fuzz

FORMATS = sorted(PARSERS)


@pytest.mark.parametrize("examples", EXAMPLES)
@pytest.mark.parametrize("source", FORMATS)
def test_a_parser_answers_events_within_the_caps_or_bad_input(source: str, examples: int) -> None:
    seeds = [(body, ctype) for s, body, ctype in corpus() if s == source]
    assert seeds, f"no real payload of {source}"
    counts = {"events": 0, "refused": 0}

    @given(st.data())
    @fuzz(examples, f"ingest: {source} parser")
    def parse(data: st.DataObject) -> None:
        body, ctype = data.draw(st.sampled_from(seeds))
        if data.draw(st.integers(0, 9)) == 0:
            ctype = data.draw(st.sampled_from(CONTENT_TYPES))
        body = mutate(data, body)
        try:
            events = PARSERS[source](body, ctype)
        except BadInputError as exc:
            assert str(exc)
            counts["refused"] += 1
            return
        for ev in events:
            assert ev.plate_raw is None or len(ev.plate_raw) <= MAX_PLATE_RAW_CHARS
            assert ev.plate is None or len(ev.plate) <= MAX_PLATE_CHARS
            rec = ev.to_record(camera_id="cam-1", received_at=1, images=[])
            try:
                SERDE.encode("camera_event", rec)  # what publishing does; a refusal is a 400
            except SerdeError:
                counts["refused"] += 1
        counts["events"] += len(events)

    parse()
    assert counts["events"] > 0 and counts["refused"] > 0, counts
