"""Upgrading a bucket to retention by purpose (issue 17 item 1): `platestream retention
tag-untagged` gives retention=short to every image stored before images carried retention tags,
keeps their other tags, leaves tagged ones and objects outside the image prefixes alone; on the
real bucket."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from minio.commonconfig import Tags
from typer.testing import CliRunner

from platestream.privacy.retention_tags import tag_untagged
from platestream.s3 import ensure_bucket, make_s3
from tests.sink.helpers import env_for

pytestmark = pytest.mark.integration


def _put(s3: Any, bucket: str, key: str, tags: dict[str, str] | None = None) -> None:
    t = None
    if tags:
        t = Tags.new_object_tags()
        for k, v in tags.items():
            t[k] = v
    s3.put_object(bucket, key, io.BytesIO(b"x"), 1, tags=t)


def _tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return dict(s3.get_object_tags(bucket, key) or {})


def test_untagged_images_become_short_and_the_rest_is_left_alone(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = make_s3(settings)
    bucket = settings.s3_bucket
    ensure_bucket(s3, bucket)
    _put(s3, bucket, "crops/cam/old.jpg")
    _put(s3, bucket, "images/cam/scene.jpg", {"owner": "case-1"})
    _put(s3, bucket, "crops/cam/hit.jpg", {"retention": "hit"})
    _put(s3, bucket, "frames/cam/frame.jpg")
    _put(s3, bucket, "exports/report.csv")  # not an image the stages store: untouched

    dry = tag_untagged(s3, bucket, dry_run=True)
    assert (dry.seen, dry.tagged, dry.kept) == (4, 3, 1)
    assert _tags(s3, bucket, "crops/cam/old.jpg") == {}  # a dry run changes nothing

    from platestream.cli import app

    for key, value in env_for(settings).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["retention", "tag-untagged"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert (counts["seen"], counts["tagged"], counts["kept"]) == (4, 3, 1)
    assert _tags(s3, bucket, "crops/cam/old.jpg") == {"retention": "short"}
    assert _tags(s3, bucket, "images/cam/scene.jpg") == {"owner": "case-1", "retention": "short"}
    assert _tags(s3, bucket, "crops/cam/hit.jpg") == {"retention": "hit"}
    assert _tags(s3, bucket, "frames/cam/frame.jpg") == {"retention": "short"}
    assert _tags(s3, bucket, "exports/report.csv") == {}
    again = tag_untagged(s3, bucket)  # idempotent
    assert (again.tagged, again.kept) == (0, 4)
