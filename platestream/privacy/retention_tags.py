"""Upgrading a bucket to retention by purpose: tag the images stored before the tags existed.

The bucket's lifecycle selects images by their ``retention`` tag (docs/privacy.md 3b); objects
written before that carry none and fall under the catch-all rule (the long days). This walks the
bucket once and gives every untagged image ``retention=short``, keeping any other tags it has;
an image that already has a retention tag (``hit`` or ``short``) is left as it is. Afterwards the
sink's image-retention loop, replayed from the start of ``anpr.plate-events.v1``, turns the
images of watchlist hits to ``hit`` (it never shortens one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from minio import Minio
from minio.commonconfig import Tags
from minio.error import S3Error

from platestream.s3 import MISSING, SHORT, TAG

logger = logging.getLogger(__name__)

# What the stages store: crops (detect), scenes and vehicle images (the S3 sink), frames for
# detect (ingest), unredacted originals (the S3 sink): every prefix an image can be under.
IMAGE_PREFIXES = ("crops/", "images/", "frames/", "originals/")


@dataclass
class TagCounts:
    seen: int = 0
    tagged: int = 0  # given retention=short
    kept: int = 0  # had a retention tag already
    gone: int = 0  # deleted between the listing and the tagging


def _names(client: Minio, bucket: str, prefixes: Iterable[str]) -> Iterable[str]:
    for prefix in prefixes:
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
            if obj.object_name and not obj.is_dir:
                yield obj.object_name


def tag_untagged(
    client: Minio,
    bucket: str,
    *,
    prefixes: Iterable[str] = IMAGE_PREFIXES,
    dry_run: bool = False,
    limit: int | None = None,
) -> TagCounts:
    """Give ``retention=short`` to every image under ``prefixes`` without a retention tag."""
    counts = TagCounts()
    for name in _names(client, bucket, prefixes):
        if limit is not None and counts.seen >= limit:
            break
        counts.seen += 1
        try:
            current = client.get_object_tags(bucket, name)
            if current is not None and TAG in current:
                counts.kept += 1
                continue
            if not dry_run:
                tags = Tags.new_object_tags()
                for k, v in (current or {}).items():
                    tags[k] = v
                tags[TAG] = SHORT
                client.set_object_tags(bucket, name, tags)
            counts.tagged += 1
        except S3Error as exc:
            if exc.code not in MISSING:
                raise
            counts.gone += 1
    logger.info("retention tags: %s", counts)
    return counts
