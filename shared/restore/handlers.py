"""The ``dr_restore`` function's handler: settings now, one call to the dispatcher."""

from __future__ import annotations

from shared import clients, config
from shared.events import PubSubMessage
from shared.restore import targets
from shared.restore.dispatch import dispatch
from shared.restore.status import StatusStore


def on_restore_message(message: PubSubMessage) -> None:
    settings = config.restore_settings(config.sources(secrets=clients.secret_access()))
    store = StatusStore(clients.storage_client().bucket(settings.state_bucket))
    dispatch(message, settings, store, targets.registry(store, store.clock))
