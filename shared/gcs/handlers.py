"""Pub/Sub entry points of the two Cloud Storage functions (see ``functions/main.py``).

``dr-gcs-backup`` (Cloud Scheduler, ``{"tier": "daily"}``) starts a run
through :class:`~shared.gcs.target.GcsBackupTarget`: it lists and publishes
shards to ``DR_GCS_SHARD_TOPIC`` (default ``dr-gcs-shards``); ``dr-gcs-shards``
delivers each to :func:`on_shard_message`, whose last shard completes the run
and ends it. A bucket too large for one invocation's listing
(``GCS_LIST_PAGES``) goes on in listing messages on the same topic, each
listing step its own invocation.
"""

from __future__ import annotations

from shared import clients, config
from shared.errors import ConfigError
from shared.events import PubSubMessage, backup_trigger, trigger_run_id
from shared.gcs import lister, worker
from shared.gcs.context import GcsContext
from shared.gcs.run import TARGET, ShardRef
from shared.gcs.sinks import PubSubSink
from shared.gcs.steps import ListRef
from shared.gcs.target import GcsBackupTarget
from shared.manifest import TIERS, RunLocation


def _settings() -> config.GcsSettings:
    return config.gcs_settings(config.sources(secrets=clients.secret_access()))


def shard_topic(settings: config.GcsSettings) -> str:
    """``projects/P/topics/T`` from ``DR_GCS_SHARD_TOPIC`` and the function's project."""
    if settings.shard_topic.startswith("projects/"):
        return settings.shard_topic
    project = settings.function_project or settings.project_id
    if not project:
        raise ConfigError(
            "no project for the shard topic: set GOOGLE_CLOUD_PROJECT or GCS_PROJECT_ID"
        )
    return f"projects/{project}/topics/{settings.shard_topic}"


def _pubsub_sink(ctx: GcsContext) -> PubSubSink:
    return PubSubSink(ctx, clients.publisher_client(), shard_topic(ctx.settings))


def on_backup_message(message: PubSubMessage) -> None:
    """A scheduled (or manual) backup: a plan when ``dry_run``, else a run started here."""
    trigger = backup_trigger(message, TIERS)
    with GcsContext(_settings()) as ctx:
        target = GcsBackupTarget(ctx, lambda: _pubsub_sink(ctx))
        if trigger.dry_run:
            target.plan(trigger.tier)
            return
        run_id = trigger_run_id(message, ctx.clock())
        target.start(RunLocation("", TARGET, trigger.tier, run_id))


def on_shard_message(message: PubSubMessage) -> None:
    """A shard to copy, or (with a ``list`` field) the next step of a bucket's listing."""
    body = message.json()
    if isinstance(body, dict) and "list" in body:
        listing = ListRef.from_message(body)
        with GcsContext(_settings()) as ctx:
            lister.continue_listing(ctx, listing, _pubsub_sink(ctx))
        return
    shard = ShardRef.from_message(body)
    with GcsContext(_settings()) as ctx:
        worker.process_shard(ctx, shard)
