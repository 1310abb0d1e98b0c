"""Factories for Google Cloud clients, imported lazily and pointed at the right endpoint.

Cold start is the reason this module exists: ``google.cloud.*`` imports cost
hundreds of milliseconds each, so a handler pays only for the clients it
builds. Storage, Firestore and Pub/Sub honour the standard emulator variables
(``STORAGE_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``, ``PUBSUB_EMULATOR_HOST``)
by themselves. The control-plane APIs that have no emulator (Firestore Admin,
Cloud Run, Secret Manager) take an endpoint override from ``DR_*_ENDPOINT``; when
one is set, the official client speaks REST to it with anonymous credentials.
That is the only difference between production and a local stack: the calls,
requests and responses are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import firestore_admin_v1, run_v2, secretmanager, storage
    from google.cloud.pubsub_v1 import PublisherClient

    from shared.config import Endpoints
    from shared.settings_source import SecretAccess


def _endpoints() -> Endpoints:
    from shared import config

    return config.endpoints(config.process_environment())


def _override(endpoint: str | None) -> dict[str, Any]:
    """Client keyword arguments for an endpoint override (REST, anonymous), or none."""
    if endpoint is None:
        return {}
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return {
        "credentials": AnonymousCredentials(),
        "transport": "rest",
        "client_options": ClientOptions(api_endpoint=endpoint),
    }


def storage_client(project: str | None = None) -> storage.Client:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    from shared import config

    if config.storage_emulator(config.process_environment()):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    try:
        return storage.Client(project=project)
    except DefaultCredentialsError:
        from shared.errors import PermissionDenied

        raise PermissionDenied(
            "no Google Cloud credentials: run `gcloud auth application-default login` "
            "(or use a service account), or point STORAGE_EMULATOR_HOST at a local server"
        ) from None


def publisher_client() -> PublisherClient:
    from google.cloud.pubsub_v1 import PublisherClient

    return PublisherClient()


def firestore_admin_client(
    endpoints: Endpoints | None = None,
) -> firestore_admin_v1.FirestoreAdminClient:
    from google.cloud import firestore_admin_v1

    endpoints = endpoints or _endpoints()
    return firestore_admin_v1.FirestoreAdminClient(**_override(endpoints.firestore_admin))


def run_jobs_client(endpoints: Endpoints | None = None) -> run_v2.JobsClient:
    from google.cloud import run_v2

    endpoints = endpoints or _endpoints()
    return run_v2.JobsClient(**_override(endpoints.cloud_run))


def run_executions_client(endpoints: Endpoints | None = None) -> run_v2.ExecutionsClient:
    from google.cloud import run_v2

    endpoints = endpoints or _endpoints()
    return run_v2.ExecutionsClient(**_override(endpoints.cloud_run))


def secret_manager_client(
    endpoints: Endpoints | None = None,
) -> secretmanager.SecretManagerServiceClient:
    from google.cloud import secretmanager

    endpoints = endpoints or _endpoints()
    return secretmanager.SecretManagerServiceClient(**_override(endpoints.secret_manager))


def secret_access(endpoints: Endpoints | None = None) -> SecretAccess:
    """A :class:`~shared.settings_source.SecretAccess` that builds its client on first use.

    Configuration without a single secret reference never imports Secret
    Manager at all. Errors become :mod:`shared.errors` classes naming the
    secret (never its value).
    """
    client: list[secretmanager.SecretManagerServiceClient] = []

    def access(version_name: str) -> tuple[str, bytes]:
        from google.api_core import exceptions

        from shared.errors import KeyNotFoundError, PermissionDenied, SourceUnavailable

        if not client:
            client.append(secret_manager_client(endpoints))
        try:
            response = client[0].access_secret_version(name=version_name)
        except (exceptions.NotFound, exceptions.FailedPrecondition):
            raise KeyNotFoundError(
                f"secret {version_name} does not exist or has no enabled version"
            ) from None
        except exceptions.PermissionDenied:
            raise PermissionDenied(f"no permission to access secret {version_name}") from None
        except (exceptions.ServiceUnavailable, exceptions.DeadlineExceeded) as exc:
            raise SourceUnavailable(
                f"Secret Manager unavailable reading {version_name}: {exc.message}"
            ) from None
        return str(response.name), bytes(response.payload.data)

    return access
