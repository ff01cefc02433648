"""Create the configured S3 bucket if it does not exist (init job of compose and Kubernetes).

Uses the project's own settings and client (PLATESTREAM_S3_*), so it fails on the same wrong
endpoint or key the sink would fail on, at install time instead of at the first image.
"""

from __future__ import annotations

import sys

from platestream.s3 import ensure_bucket, make_s3
from platestream.settings import CommonSettings, load


def main() -> int:
    settings = load(CommonSettings)
    ensure_bucket(make_s3(settings), settings.s3_bucket)
    print(f"bucket {settings.s3_bucket} ready at {settings.s3_endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
