"""Helpers of the MongoDB tests: a backup and a restore as the job runs them.

Fresh databases come from the ``mongo_db`` and ``dbs`` fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.keys import FileKeyring
from shared.manifest import Manifest, RunLocation, new_run_id
from shared.mongodb import restore
from shared.mongodb.backup import DumpOptions, run_backup
from shared.mongodb.request import MongoRestoreRequest
from shared.mongodb.target import run_end
from shared.target import LogProgress

NOW = dt.datetime.now(dt.UTC)


def backup(settings: Any, bucket: Any, key_file: str, **options: Any) -> Manifest:
    location = RunLocation(settings.prefix, "mongodb", "daily", new_run_id(NOW))
    keyring = FileKeyring([key_file])
    return run_backup(
        settings,
        location,
        end=run_end(settings, bucket, lambda: NOW),
        keyring=keyring,
        options=DumpOptions(**options),
    )


def restore_with(settings: Any, bucket: Any, keyring: Any, **fields: Any) -> Any:
    """Restore the backup of ``NOW``'s day (unless ``fields`` name another) with ``keyring``."""
    request = MongoRestoreRequest(**{"day": NOW.date(), "tier": "daily", **fields})
    return restore.restore(
        settings, request, bucket=bucket, keyring=keyring, progress=LogProgress(), token="t1"
    )


def run_restore(settings: Any, bucket: Any, key_file: str, **fields: Any) -> Any:
    """:func:`restore_with` the key in ``key_file``."""
    return restore_with(settings, bucket, FileKeyring([key_file]), **fields)
