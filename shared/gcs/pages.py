"""Pages of one source bucket's listing, as work items compared with the previous snapshot."""

from __future__ import annotations

from collections.abc import Iterator, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from shared import storage
from shared.errors import ConfigError
from shared.gcs.context import GcsContext
from shared.gcs.reader import SortedLookup
from shared.gcs.run import TodoItem
from shared.gcs.snapshot import LIST_FIELDS, LIST_PROJECTION, ObjectEntry

if TYPE_CHECKING:
    from google.cloud.storage import Blob


class Listing:
    """``pages`` pages (all, if ``None``) of a bucket from ``token``, as work items.

    ``first`` and ``end`` bound a name range: names from ``first`` (included)
    to ``end`` (excluded), as Cloud Storage's ``startOffset`` and ``endOffset``.
    After iterating, ``next_token`` is where the listing goes on (``None``: it
    ended) and ``last_name`` the last name listed.
    """

    def __init__(
        self,
        ctx: GcsContext,
        bucket: str,
        token: str | None,
        pages: int | None,
        first: str | None = None,
        end: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.bucket = bucket
        self.token = token
        self.pages = pages
        self.first = first
        self.end = end
        self.next_token: str | None = None
        self.last_name: str | None = None

    def items(
        self, lookup: SortedLookup | None, after: str | None = None, wanted: Set[str] = frozenset()
    ) -> Iterator[TodoItem]:
        """Objects in name order (those after ``after``), ``reuse`` when the base holds them,
        ``critical`` when named in ``wanted``."""
        where = f"listing gs://{self.bucket}"
        with storage.translate_errors(where):
            for page, token in self._prefetched():
                self.next_token = token
                for blob in page:
                    if after is not None and blob.name <= after:
                        continue
                    entry = ObjectEntry.from_blob(self.bucket, blob)
                    earlier = lookup.find(entry.name) if lookup is not None else None
                    self.last_name = entry.name
                    reuse = earlier is not None and earlier.same_bytes(entry)
                    if earlier is not None and reuse:
                        entry = replace(entry, copy=earlier.copy)
                    yield TodoItem(entry, reuse, entry.name in wanted)

    def _prefetched(self) -> Iterator[tuple[list[Blob], str | None]]:
        """Pages with the token after each; the next fetched on its own thread meanwhile."""
        from google.api_core import exceptions

        source = self._fetch()
        with ThreadPoolExecutor(1, thread_name_prefix="gcs-list") as pool:
            pending = pool.submit(next, source, None)
            while True:
                try:
                    page = pending.result()
                except exceptions.NotFound:
                    raise ConfigError(
                        f"source bucket gs://{self.bucket} does not exist (GCS_SOURCE_BUCKETS)"
                    ) from None
                if page is None:
                    return
                pending = pool.submit(next, source, None)
                yield page

    def _fetch(self) -> Iterator[tuple[list[Blob], str | None]]:
        client = self.ctx.client()  # the fetching thread's own
        listing = client.list_blobs(
            client.bucket(self.bucket),
            fields=LIST_FIELDS,
            projection=LIST_PROJECTION,
            page_size=self.ctx.settings.list_page_size,
            page_token=self.token,
            start_offset=self.first,
            end_offset=self.end,
            retry=storage.retry_policy(),
        )
        for count, page in enumerate(listing.pages, start=1):
            blobs = list(page)
            yield blobs, listing.next_page_token
            if self.pages is not None and count >= self.pages:
                return
