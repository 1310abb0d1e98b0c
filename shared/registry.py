"""The one registry of targets: their request shapes, and their restore targets built on demand.

The ``dr-restore`` handler builds it here, outside the restore core, so
:mod:`shared.restore` never imports a target package. A shape is static and
light (the console validates with it before publishing); a target is built
only when a request needs it, loading its settings at call time. A new
target adds one entry to :func:`registry` and :func:`shapes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, utc_now
from shared.target import Registered, RequestShape

if TYPE_CHECKING:
    from shared.events import PubSubMessage
    from shared.restore.status import StatusStore
    from shared.target import RestoreTarget


def shapes() -> Mapping[str, RequestShape[Any]]:
    """Every target's restore request shape, by target name (in :data:`TARGETS` order)."""
    from shared.firestore.request import SHAPE as FIRESTORE
    from shared.gcs.request import SHAPE as GCS
    from shared.mongodb.request import SHAPE as MONGODB

    return {shape.name: shape for shape in (MONGODB, FIRESTORE, GCS)}


def registry(store: StatusStore, clock: Clock = utc_now) -> Mapping[str, Registered]:
    """Every target as the restore dispatcher drives it; each built only when asked for."""

    def firestore() -> RestoreTarget[Any]:
        from shared.firestore.target import FirestoreRestoreTarget

        return FirestoreRestoreTarget(store, clock)

    def gcs() -> RestoreTarget[Any]:
        from shared.gcs.target import GcsRestoreTarget

        return GcsRestoreTarget()

    def mongodb() -> RestoreTarget[Any]:
        from shared.mongodb.target import MongoRestoreTarget

        return MongoRestoreTarget()

    builders = {"mongodb": mongodb, "firestore": firestore, "gcs": gcs}
    return {name: Registered(shape, builders[name]) for name, shape in shapes().items()}


def on_restore_message(message: PubSubMessage) -> None:
    """The ``dr_restore`` function's handler: settings now, the registry, one dispatch."""
    from shared import clients, config
    from shared.restore.dispatch import dispatch
    from shared.restore.status import StatusStore

    settings = config.restore_settings(config.sources(secrets=clients.secret_access()))
    store = StatusStore(clients.storage_client().bucket(settings.state_bucket))
    dispatch(message, settings, store, registry(store, store.clock))
