"""The product's Cloud Functions as deployed: entry point and trigger topic of each.

Mirrors the deployment (one function per topic, all in ``functions/main.py``)
so ``python -m tests.devstack up --with-functions`` serves what production
serves. Product settings are not fixed here; the caller adds them per run.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.devstack.functions import FunctionSpec

TRIGGERS = {
    "gcs_backup": "dr-gcs-backup",
    "gcs_copy_shard": "dr-gcs-shards",
    "mongodb_backup": "dr-mongodb-backup",
    "firestore_backup": "dr-firestore-backup",
    "firestore_complete": "dr-firestore-complete",
    "dr_restore": "dr-restore",
    "dr_freshness": "dr-freshness",
    "dr_drill": "dr-drill",
}


def product_functions(settings: Mapping[str, str] | None = None) -> tuple[FunctionSpec, ...]:
    """One spec per product function, each with ``settings`` as its environment.

    As deployed, each trigger subscription dead-letters to ``<topic>-dead-letter``
    after 5 attempts, where a pull subscription keeps what arrives.
    """
    env = dict(settings or {})
    return tuple(
        FunctionSpec(
            target=target, topics=(topic,), env=env, dead_letter_topic=f"{topic}-dead-letter"
        )
        for target, topic in TRIGGERS.items()
    )
