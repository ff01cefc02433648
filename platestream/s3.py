"""S3 (MinIO API) client with the project's settings."""

from __future__ import annotations

from minio import Minio

from platestream.settings import CommonSettings


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
