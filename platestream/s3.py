"""S3 (MinIO API) client with the project's settings."""

from __future__ import annotations

from minio import Minio
from minio.commonconfig import Tags

from platestream.settings import CommonSettings

# Every stored image carries a retention tag; the bucket's lifecycle rules select on it (the sink's
# s3_sink.py sets the rules, its image_retention loop turns an event's images to "hit").
TAG = "retention"
HIT = "hit"  # kept as long as a passage with a watchlist hit (PLATESTREAM_SINK_RETENTION_DAYS_PLATE_EVENTS)
SHORT = "short"  # kept PLATESTREAM_S3_RETENTION_DAYS
# The error codes of an object that is not there (expired, erased, never written).
MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchVersion"})


def retention_tags(value: str) -> Tags:
    """The object tags of an image kept under the policy ``value`` (HIT or SHORT)."""
    tags = Tags.new_object_tags()
    tags[TAG] = value
    return tags


def make_s3(settings: CommonSettings) -> Minio:
    return Minio(
        settings.s3_host,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
        region=settings.s3_region,
    )


def ensure_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
