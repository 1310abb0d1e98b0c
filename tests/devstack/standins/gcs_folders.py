"""Folders to and from fake-gcs-server over its JSON API, with the standard library only.

What the Firestore Admin stand-in needs of Cloud Storage: does a bucket
exist, which objects lie under a prefix, and copying a local folder up
(metadata file last, as a managed export writes it) or an object prefix down.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, urlencode

from tests.devstack import rest


class Gcs:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def bucket_exists(self, bucket: str) -> bool:
        try:
            rest.call("GET", f"{self.url}/storage/v1/b/{quote(bucket, safe='')}")
        except rest.RestError as error:
            if error.status == 404:
                return False
            raise
        return True

    def list(self, bucket: str, prefix: str) -> set[str]:
        names: set[str] = set()
        token = ""
        while True:
            query = urlencode({"prefix": prefix, **({"pageToken": token} if token else {})})
            answer = rest.call("GET", f"{self.url}/storage/v1/b/{quote(bucket, safe='')}/o?{query}")
            names.update(item["name"] for item in answer.get("items", []))
            token = answer.get("nextPageToken", "")
            if not token:
                return names

    def upload(self, bucket: str, name: str, data: bytes) -> None:
        query = urlencode({"uploadType": "media", "name": name})
        request = urllib.request.Request(
            f"{self.url}/upload/storage/v1/b/{quote(bucket, safe='')}/o?{query}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=30):
            pass

    def download(self, bucket: str, name: str) -> bytes:
        url = f"{self.url}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
        with urllib.request.urlopen(url, timeout=30) as response:
            data: bytes = response.read()
            return data

    def upload_folder(self, folder: Path, bucket: str, prefix: str, *, skip_overall: bool) -> None:
        """Upload ``folder``'s files under ``prefix``; the overall metadata last, or not at all."""
        paths = sorted(p for p in folder.rglob("*") if p.is_file())
        overall = [p for p in paths if p.name.endswith(".overall_export_metadata")]
        for path in [p for p in paths if p not in overall] + ([] if skip_overall else overall):
            name = f"{prefix}/{path.relative_to(folder).as_posix()}"
            self.upload(bucket, name, path.read_bytes())

    def download_folder(self, bucket: str, prefix: str, names: Iterable[str], target: Path) -> None:
        for name in names:
            path = target / name[len(prefix) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.download(bucket, name))
