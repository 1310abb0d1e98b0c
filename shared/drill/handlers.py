"""``dr-drill``: the scheduled drill (``{"action": "start"}``) and its follow-up checks (``{}``).

The quarterly schedule sends ``start``; a frequent schedule sends ``{}``,
which advances every open drill (publishes the next restores, finishes the
drill when they have ended). A start redelivered by Pub/Sub names the same
drill (its id comes from the message), so it starts once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, utc_now
from shared.errors import ConfigError, RequestError

if TYPE_CHECKING:
    from shared.config import DrillSettings
    from shared.events import PubSubMessage

ACTIONS = ("start", "advance")


def topic_path(settings: DrillSettings) -> str:
    topic = settings.restore_topic
    if topic.startswith("projects/"):
        return topic
    if settings.project is None:
        raise ConfigError(
            f"DR_RESTORE_TOPIC is {topic!r} without a project and GOOGLE_CLOUD_PROJECT is not "
            "set; expected projects/P/topics/T or GOOGLE_CLOUD_PROJECT"
        )
    return f"projects/{settings.project}/topics/{topic}"


def publisher(settings: DrillSettings) -> Callable[[Mapping[str, Any]], None]:
    """Publish one ``dr-restore`` request and wait until Pub/Sub has it."""
    from shared.clients import publisher_client

    client = publisher_client()
    path = topic_path(settings)

    def publish(body: Mapping[str, Any]) -> None:
        client.publish(path, json.dumps(body).encode("utf-8")).result(timeout=60)

    return publish


def drill_id_for(message: PubSubMessage, now: datetime) -> str:
    published = message.publish_time
    day = published[:10].replace("-", "") if published else f"{now:%Y%m%d}"
    return f"drill-{day}-{message.message_id or f'{now:%H%M%S}'}"


def on_drill_message(message: PubSubMessage, clock: Clock = utc_now) -> list[str]:
    """Start a drill if asked, then advance every open drill; returns the drills advanced."""
    from shared import clients, config
    from shared.drill import run
    from shared.notify import Notifier

    body = message.json()
    unknown = sorted(set(body) - {"action"})
    action = body.get("action", "advance")
    if unknown or action not in ACTIONS:
        raise RequestError(
            f'a dr-drill message is {{}} or {{"action": "start"}}; got {json.dumps(body)[:200]}'
        )
    settings = config.drill_settings(config.sources(secrets=clients.secret_access()))
    client = clients.storage_client(settings.project)
    now = clock()
    if action == "start":
        run.start(client, settings, drill_id_for(message, now), now, "schedule")
    publish = publisher(settings)
    notifier = Notifier(settings.watch.notify)
    drills = run.open_drills(client, settings)
    for drill_id in drills:
        run.advance(client, settings, drill_id, publish, notifier, now)
    return drills
