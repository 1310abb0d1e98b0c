"""The Firestore Admin API calls the product makes, with their errors turned into ours.

Every call here returns at once: exports, imports and database creation and
deletion are long-running operations, and the product records an
operation's name and polls it later (:func:`operation_status`) rather than
waiting. A function can be killed at any moment; an operation name in a
Cloud Storage object survives it.

The client is injected (``shared.clients.firestore_admin_client()`` in
production; the same client pointed at a local stand-in in tests).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import (
    ConfigError,
    ConflictError,
    DRError,
    PermissionDenied,
    RequestError,
    SourceUnavailable,
)

if TYPE_CHECKING:
    from google.cloud.firestore_admin_v1 import FirestoreAdminClient

CANCELLED_CODE = 1  # google.rpc.Code.CANCELLED
_CLOCK_SKEW = timedelta(minutes=1)
_EXPORT_METADATA = "google.firestore.admin.v1.ExportDocumentsMetadata"
_IMPORT_METADATA = "google.firestore.admin.v1.ImportDocumentsMetadata"


def database_name(project: str, database: str) -> str:
    return f"projects/{project}/databases/{database}"


_REST_PREFIX = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ", re.ASCII)


def _reason(exc: Any) -> str:
    """The service's message, without the ``METHOD URL:`` the REST transport puts first."""
    return _REST_PREFIX.sub("", str(exc.message))


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Map Admin API exceptions to :mod:`shared.errors`, naming ``what`` was being done."""
    from google.api_core import exceptions

    try:
        yield
    except (exceptions.PermissionDenied, exceptions.Unauthenticated, exceptions.Forbidden) as exc:
        raise PermissionDenied(
            f"{what}: permission denied ({_reason(exc)}); the function's service account needs "
            "roles/datastore.importExportAdmin on the project and access to the bucket"
        ) from None
    except exceptions.NotFound as exc:
        raise RequestError(f"{what}: not found ({_reason(exc)})") from None
    except exceptions.AlreadyExists as exc:
        raise ConflictError(f"{what}: already exists ({_reason(exc)})") from None
    except exceptions.BadRequest as exc:  # INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
        raise ConfigError(f"{what}: refused by Firestore ({_reason(exc)})") from None
    except (exceptions.TooManyRequests, exceptions.ServerError, exceptions.RetryError) as exc:
        raise SourceUnavailable(f"{what}: Firestore unavailable ({exc})") from None
    except exceptions.GoogleAPICallError as exc:
        raise DRError(f"{what}: Firestore API error ({_reason(exc)})") from None
    except (ConnectionError, TimeoutError) as exc:
        raise SourceUnavailable(f"{what}: Firestore unreachable ({exc})") from None


@dataclass(frozen=True)
class DatabaseInfo:
    name: str
    location: str
    point_in_time_recovery: bool
    earliest_version_time: datetime | None


def get_database(client: FirestoreAdminClient, name: str) -> DatabaseInfo | None:
    """The database's location and point-in-time-recovery setting; ``None`` if it does not exist."""
    from google.api_core import exceptions
    from google.cloud.firestore_admin_v1.types import Database

    with translate_errors(f"reading {name}"):
        try:
            database = client.get_database(name=name)
        except exceptions.NotFound:
            return None
    enabled = Database.PointInTimeRecoveryEnablement.POINT_IN_TIME_RECOVERY_ENABLED
    earliest = database.earliest_version_time
    return DatabaseInfo(
        name=name,
        location=str(database.location_id),
        point_in_time_recovery=database.point_in_time_recovery_enablement == enabled,
        earliest_version_time=_aware(earliest) if earliest else None,
    )


def start_export(
    client: FirestoreAdminClient,
    database: str,
    output_uri_prefix: str,
    collection_ids: Sequence[str],
    snapshot_time: datetime | None,
) -> str:
    """Start a managed export; returns the operation name without waiting for it."""
    from google.cloud.firestore_admin_v1 import ExportDocumentsRequest

    request = ExportDocumentsRequest(
        name=database,
        output_uri_prefix=output_uri_prefix,
        collection_ids=list(collection_ids),
        snapshot_time=snapshot_time,
    )
    with translate_errors(f"starting the export of {database} to {output_uri_prefix}"):
        future = client.export_documents(request=request)
    return str(future.operation.name)


def start_import(
    client: FirestoreAdminClient,
    database: str,
    input_uri_prefix: str,
    collection_ids: Sequence[str],
) -> str:
    """Start a managed import; returns the operation name without waiting for it."""
    from google.cloud.firestore_admin_v1 import ImportDocumentsRequest

    request = ImportDocumentsRequest(
        name=database, input_uri_prefix=input_uri_prefix, collection_ids=list(collection_ids)
    )
    with translate_errors(f"starting the import of {input_uri_prefix} into {database}"):
        future = client.import_documents(request=request)
    return str(future.operation.name)


def create_database(
    client: FirestoreAdminClient, project: str, database_id: str, location: str
) -> str:
    """Start creating a Native-mode database; returns the operation name."""
    from google.cloud.firestore_admin_v1.types import Database

    database = Database(location_id=location, type_=Database.DatabaseType.FIRESTORE_NATIVE)
    with translate_errors(f"creating database {database_name(project, database_id)}"):
        future = client.create_database(
            parent=f"projects/{project}", database=database, database_id=database_id
        )
    return str(future.operation.name)


def delete_database(client: FirestoreAdminClient, name: str) -> str | None:
    """Start deleting a database; the operation name, or ``None`` if it is already gone."""
    from google.api_core import exceptions

    with translate_errors(f"deleting database {name}"):
        try:
            future = client.delete_database(name=name)
        except exceptions.NotFound:
            return None
    return str(future.operation.name)


@dataclass(frozen=True)
class OperationStatus:
    """A long-running operation as last seen; counts come from its metadata's progress."""

    name: str
    done: bool
    state: str
    kind: str | None = None  # "export" or "import", from the metadata type
    error: str | None = None
    error_code: int | None = None
    documents: int | None = None
    bytes: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    uri_prefix: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.done and self.error_code is None

    @property
    def cancelled(self) -> bool:
        return self.error_code == CANCELLED_CODE or self.state == "CANCELLED"

    def describe(self) -> str:
        if not self.done:
            return f"operation {self.name} is {self.state.lower()}"
        if self.succeeded:
            return f"operation {self.name} succeeded"
        verb = "was cancelled" if self.cancelled else "failed"
        return f"operation {self.name} {verb}: {self.error}"


def operation_status(client: FirestoreAdminClient, name: str) -> OperationStatus:
    with translate_errors(f"polling operation {name}"):
        operation = client.get_operation(request={"name": name})
    return _status(operation)


def find_operation(
    client: FirestoreAdminClient,
    kind: str,
    database: str,
    uri_prefix: str,
    since: datetime | None = None,
) -> str | None:
    """The ``kind`` ("export"/"import") of ``database`` from/to ``uri_prefix``, after ``since``.

    This is how the completion step recovers a run whose function died after
    starting the operation but before recording its name.
    """
    earliest = since - _CLOCK_SKEW if since else None
    token = ""
    with translate_errors(f"listing the operations of {database}"):
        while True:
            page = client.list_operations(
                request={"name": database, "filter": "", "page_token": token}
            )
            for operation in page.operations:
                status = _status(operation)
                started = status.start_time
                if (
                    status.kind == kind
                    and status.uri_prefix == uri_prefix
                    and (earliest is None or started is None or started >= earliest)
                ):
                    return str(operation.name)
            token = page.next_page_token
            if not token:
                return None


def _status(operation: Any) -> OperationStatus:
    from google.cloud.firestore_admin_v1 import (
        ExportDocumentsMetadata,
        ImportDocumentsMetadata,
        OperationState,
    )

    metadata: Any = None
    type_name = operation.metadata.type_url.rsplit("/", 1)[-1]
    if type_name == _EXPORT_METADATA:
        metadata = ExportDocumentsMetadata.deserialize(operation.metadata.value)
    elif type_name == _IMPORT_METADATA:
        metadata = ImportDocumentsMetadata.deserialize(operation.metadata.value)
    error = operation.error if operation.HasField("error") else None
    state = "DONE" if operation.done else "RUNNING"
    fields: dict[str, Any] = {}
    if metadata is not None:
        state = OperationState(metadata.operation_state).name
        fields = {
            "kind": "export" if type_name == _EXPORT_METADATA else "import",
            "documents": int(metadata.progress_documents.completed_work),
            "bytes": int(metadata.progress_bytes.completed_work),
            "start_time": _aware(metadata.start_time) if metadata.start_time else None,
            "end_time": _aware(metadata.end_time) if metadata.end_time else None,
            "uri_prefix": str(
                metadata.output_uri_prefix
                if type_name == _EXPORT_METADATA
                else metadata.input_uri_prefix
            ),
        }
    return OperationStatus(
        name=str(operation.name),
        done=bool(operation.done),
        state=state,
        error=(error.message or f"error code {error.code}") if error else None,
        error_code=int(error.code) if error else None,
        **fields,
    )


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def require_database(client: FirestoreAdminClient, name: str, purpose: str) -> DatabaseInfo:
    """:func:`get_database`; a missing database is a :class:`RequestError` saying why it matters."""
    info = get_database(client, name)
    if info is None:
        raise RequestError(f"{name} does not exist; {purpose}")
    return info
