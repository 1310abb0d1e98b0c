"""The pending import record: one per restore in flight, in the state bucket, until it ends.

``firestore-imports/<request-id>.json`` holds what the completion step needs
to carry a restore on (which export, where to, which step, which operation;
:mod:`shared.firestore.restore_completion`).
The request's status record (:mod:`shared.restore.status`) is what operators
read; this record is the machine's. It is written before each long-running
operation is started and given the operation's name afterwards, so a
function killed in between leaves a record the completion step can resume
from. Changes are guarded by generation: two completion steps never both
advance the same import.

Steps: ``create_database`` (test mode only) → ``import`` → ``cleanup``
(test mode: the scratch database is being deleted). With
``rewrite_references``, the ``import`` step also holds the rewrite pass's
progress (``rewrite``) until the pass is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared import storage
from shared.errors import IntegrityError

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

FORMAT = "eyewearml-dr-firestore-import/1"
PREFIX = "firestore-imports/"
STEPS = ("create_database", "import", "cleanup")


@dataclass(frozen=True)
class PendingImport:
    request_id: str
    mode: str  # "restore" | "test"
    backup: str  # gs:// path of the manifest
    input_uri_prefix: str
    project: str
    database: str  # the database id imported into (the scratch one in test mode)
    location: str
    collection_ids: tuple[str, ...]
    expected: Mapping[str, int]  # documents per collection group, from the manifest
    expected_documents: int | None
    step: str
    started: datetime
    step_started: datetime
    operation: str | None = None
    timeout_reported: bool = False
    result: Mapping[str, Any] = field(default_factory=dict)
    rewrite_references: bool = False
    rewrite: Mapping[str, Any] = field(default_factory=dict)  # references.RewriteState

    @property
    def database_name(self) -> str:
        return f"projects/{self.project}/databases/{self.database}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            collection_ids=list(self.collection_ids),
            expected=dict(self.expected),
            started=self.started.isoformat(),
            step_started=self.step_started.isoformat(),
            result=dict(self.result),
            rewrite=dict(self.rewrite),
        )
        return {"format": FORMAT, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> PendingImport:
        try:
            if data.get("format") != FORMAT or data.get("step") not in STEPS:
                raise ValueError(f"format {data.get('format')!r}, step {data.get('step')!r}")
            values = {k: v for k, v in data.items() if k != "format"}
            values.update(
                collection_ids=tuple(values["collection_ids"]),
                expected={str(k): int(v) for k, v in values["expected"].items()},
                started=datetime.fromisoformat(values["started"]),
                step_started=datetime.fromisoformat(values["step_started"]),
            )
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{where}: malformed import record ({exc})") from None


def path(request_id: str) -> str:
    return f"{PREFIX}{request_id}.json"


def create(bucket: Bucket, job: PendingImport) -> int:
    return storage.create_json(bucket, path(job.request_id), job.to_json())


def read(bucket: Bucket, request_id: str) -> tuple[PendingImport, int] | None:
    found = storage.read_json(bucket, path(request_id))
    if found is None:
        return None
    return PendingImport.from_json(found[0], f"gs://{bucket.name}/{path(request_id)}"), found[1]


def update(
    bucket: Bucket, job: PendingImport, generation: int, **changes: Any
) -> tuple[PendingImport, int]:
    """Replace the record if it is still at ``generation`` (else :class:`ConflictError`)."""
    changed = replace(job, **changes)
    return changed, storage.replace_json(
        bucket, path(job.request_id), changed.to_json(), generation
    )


def remove(bucket: Bucket, request_id: str) -> None:
    storage.delete(bucket, path(request_id))


def in_flight(bucket: Bucket) -> list[str]:
    """Request ids with an import record."""
    with storage.translate_errors(f"listing gs://{bucket.name}/{PREFIX}"):
        names = [
            blob.name
            for blob in bucket.client.list_blobs(
                bucket,
                prefix=PREFIX,
                fields="items(name),nextPageToken",
                retry=storage.retry_policy(),
            )
        ]
    return sorted(name[len(PREFIX) : -len(".json")] for name in names if name.endswith(".json"))
