"""``gs://bucket/path`` as the import commands take it."""

from __future__ import annotations

from shared.errors import RequestError
from shared.gcs.run import check_bucket_name


def split(url: str, what: str) -> tuple[str, str]:
    """Bucket and folder (without a trailing ``/``) of a ``gs://`` URL; RequestError if not one."""
    if not url.startswith("gs://"):
        raise RequestError(f"{what} {url!r} is not a gs://bucket/path URL")
    bucket, _, path = url[len("gs://") :].partition("/")
    check_bucket_name(bucket, what)
    folder = path.strip("/")
    if not folder:
        raise RequestError(f"{what} {url!r} names a bucket but no folder in it")
    return bucket, folder
