"""One frozen settings object per target, read when a handler runs.

The keys are the old scripts' keys, with their meaning: a
``mongodb_backup.conf`` that drove ``mongodb_backup.sh`` drives the MongoDB
job unchanged (``DR_CONFIG_FILE`` or ``--config`` points at it). Keys the old
scripts did not have are prefixed by their target or ``DR_`` and documented in
the README. Nothing here runs at import time; every ``load_*`` call reads its
sources afresh, so tests and long-lived processes see the current environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from shared import settings_source as s
from shared.errors import ConfigError
from shared.manifest import MANUAL_TIER, PERIODS, SCHEDULED_TIERS, TARGETS
from shared.retention import Policy, Span
from shared.secret import Secret
from shared.settings_source import Key, SecretAccess, Sources

T = TypeVar("T")

BUCKET = "a Cloud Storage bucket name (3-222 lowercase letters, digits, '-', '_', '.')"
PROJECT = "a Google Cloud project id (6-30 lowercase letters, digits, '-')"
COUNT = "a whole number >= 0"

# --- keys shared by every target ---------------------------------------------------------
NOTIFY_EMAIL: Key[tuple[str, ...]] = Key(
    "NOTIFY_EMAIL",
    s.csv(s.matching(s.EMAIL, "email address")),
    "comma-separated email addresses",
    default=(),
)
NOTIFY_WEBHOOK: Key[tuple[Secret, ...]] = Key(
    "NOTIFY_WEBHOOK", s.secret_urls, "comma-separated http(s) webhook URLs", default=(), secret=True
)
NOTIFY_WEBHOOK_FORMAT = Key(
    "NOTIFY_WEBHOOK_FORMAT",
    s.matching(re.compile(r"^(auto|slack|teams|json)$"), "format"),
    "one of auto, slack, teams, json",
    default="auto",
)
NOTIFY_TIMEOUT_SECONDS = Key("NOTIFY_TIMEOUT_SECONDS", float, "seconds, e.g. 10", default=10.0)
SMTP_HOST = Key("SMTP_HOST", s.text, "a host name", default="localhost")
SMTP_PORT = Key("SMTP_PORT", s.integer(1, 65535), "a TCP port 1-65535", default=587)
SMTP_USERNAME = Key("SMTP_USERNAME", s.text, "a user name")
SMTP_PASSWORD = Key("SMTP_PASSWORD", s.secret_text, "a password or secret reference", secret=True)
SMTP_FROM = Key(
    "SMTP_FROM",
    s.matching(s.EMAIL, "email address"),
    "an email address",
    default="eyewearml-dr@localhost",
)
SMTP_STARTTLS = Key("SMTP_STARTTLS", s.boolean, "true or false", default=True)
ENCRYPTION_KEY_FILE: Key[tuple[str, ...]] = Key(
    "ENCRYPTION_KEY_FILE", s.csv(), "comma-separated key file paths", default=()
)
ENCRYPTION_KEY_SECRET = Key(
    "ENCRYPTION_KEY_SECRET",
    s.matching(re.compile(r"^projects/[^/]+/secrets/[^/]+$"), "secret"),
    "a secret name projects/P/secrets/NAME",
)

# --- MongoDB -------------------------------------------------------------------------------
MONGODB_URI = Key(
    "MONGODB_URI", s.secret_text, "a mongodb:// or mongodb+srv:// URI", secret=True, required=True
)
MONGODB_DB_NAME = Key("MONGODB_DB_NAME", s.text, "a database name (empty: every database)")
MONGODB_IS_ATLAS = Key("MONGODB_IS_ATLAS", s.boolean, "true or false", default=False)
MONGODB_BACKUP_DIR = Key(
    "MONGODB_BACKUP_DIR", s.text, "a path, used as an object prefix", default=""
)
MONGODB_GCS_BUCKET = Key(
    "MONGODB_GCS_BUCKET", s.matching(s.BUCKET_NAME, "bucket name"), BUCKET, required=True
)
MONGODB_PARALLEL_COLLECTIONS = Key(
    "MONGODB_PARALLEL_COLLECTIONS",
    s.integer(1, 64),
    "a number of collections dumped or restored at once, 1-64",
    default=4,
)
MONGODB_INSERTION_WORKERS = Key(
    "MONGODB_INSERTION_WORKERS",
    s.integer(1, 64),
    "a number of insertion workers per restored collection, 1-64",
    default=2,
)
MONGODB_OUTAGE_LIMIT_SECONDS = Key(
    "MONGODB_OUTAGE_LIMIT_SECONDS",
    s.integer(1, 86_400),
    "seconds a dump waits for an unreachable server before failing, 1-86400",
    default=300,
)
COMPRESSION_LEVEL = Key("COMPRESSION_LEVEL", s.integer(1, 22), "a zstd level 1-22", default=3)
RETENTION_DAILY = Key("RETENTION_DAILY", s.integer(0), COUNT, default=30)
RETENTION_WEEKLY = Key("RETENTION_WEEKLY", s.integer(0), COUNT, default=12)
RETENTION_MONTHLY = Key("RETENTION_MONTHLY", s.integer(0), COUNT, default=12)
ENABLE_HOURLY = Key("ENABLE_HOURLY", s.boolean, "true or false", default=False)
HOURLY_RETENTION = Key("HOURLY_RETENTION", s.integer(0), COUNT, default=24)

# --- retention of every target (restic's keep-within-* and the manual tier) ----------------
DURATION = "a duration such as 30d, 36h or 1y6m (y, m = months, d, h)"
DR_RETENTION_MANUAL = Key("DR_RETENTION_MANUAL", s.integer(0), COUNT, default=7)
DR_RETENTION_WITHIN: Mapping[str, Key[Span]] = {
    name: Key(f"DR_RETENTION_WITHIN_{name.upper()}", Span.parse, DURATION)
    for name in ("hourly", "daily", "weekly", "monthly", "yearly")
}

# --- Firestore -----------------------------------------------------------------------------
FIRESTORE_PROJECT_ID = Key(
    "FIRESTORE_PROJECT_ID", s.matching(s.PROJECT_ID, "project id"), PROJECT, required=True
)
FIRESTORE_GCS_BUCKET = Key(
    "FIRESTORE_GCS_BUCKET", s.matching(s.BUCKET_NAME, "bucket name"), BUCKET, required=True
)
FIRESTORE_COLLECTION_IDS: Key[tuple[str, ...]] = Key(
    "FIRESTORE_COLLECTION_IDS",
    s.csv(s.matching(re.compile(r"^[^/\s]+$"), "collection id")),
    "comma-separated collection ids (empty: all)",
    default=(),
)
FIRESTORE_RETENTION_DAYS = Key("FIRESTORE_RETENTION_DAYS", s.integer(0), COUNT, default=30)
FIRESTORE_DATABASE = Key("FIRESTORE_DATABASE", s.text, "a database id", default="(default)")
FIRESTORE_EXPORT_TIMEOUT_MINUTES = Key(
    "FIRESTORE_EXPORT_TIMEOUT_MINUTES", s.integer(1), "minutes >= 1", default=720
)
FIRESTORE_VERIFY_SAMPLE = Key(
    "FIRESTORE_VERIFY_SAMPLE",
    s.integer(1),
    "documents compared after an import (>= 1)",
    default=10_000,
)

# --- Cloud Storage -------------------------------------------------------------------------
GCS_PROJECT_ID = Key("GCS_PROJECT_ID", s.matching(s.PROJECT_ID, "project id"), PROJECT)
GCS_SOURCE_BUCKETS = Key(
    "GCS_SOURCE_BUCKETS",
    s.csv(s.matching(s.BUCKET_NAME, "bucket name")),
    "comma-separated bucket names",
    required=True,
)
GCS_BACKUP_BUCKET = Key(
    "GCS_BACKUP_BUCKET", s.matching(s.BUCKET_NAME, "bucket name"), BUCKET, required=True
)
GCS_CRITICAL_FILES: Key[tuple[str, ...]] = Key(
    "GCS_CRITICAL_FILES",
    s.csv(),
    "comma-separated object paths (path, bucket/path or gs://bucket/path)",
    default=(),
)
GCS_RETENTION_DAYS = Key("GCS_RETENTION_DAYS", s.integer(0), COUNT, default=90)
GCS_SHARD_SIZE = Key(
    "GCS_SHARD_SIZE", s.integer(1, 100_000), "objects per copy shard, 1-100000", default=1000
)
DR_GCS_SHARD_TOPIC = Key(
    "DR_GCS_SHARD_TOPIC",
    s.matching(re.compile(r"^(projects/[^/]+/topics/)?[A-Za-z][\w.~+%-]{2,254}$"), "topic"),
    "a Pub/Sub topic id or projects/P/topics/T",
    default="dr-gcs-shards",
)
GCS_COPY_WORKERS = Key("GCS_COPY_WORKERS", s.integer(1, 256), "parallel copies, 1-256", default=32)
GCS_LIST_PAGE_SIZE = Key(
    "GCS_LIST_PAGE_SIZE", s.integer(1, 1000), "objects per listing page, 1-1000", default=1000
)
GCS_LIST_PAGES = Key(
    "GCS_LIST_PAGES",
    s.integer(1, 100_000),
    "listing pages per invocation before the listing hands itself on, 1-100000",
    default=200,
)
GCS_LIST_RANGE_OBJECTS = Key(
    "GCS_LIST_RANGE_OBJECTS",
    s.integer(1),
    "objects per name range listed at once (from the previous snapshot), >= 1",
    default=5_000_000,
)
GCS_LIST_ATTEMPTS = Key(
    "GCS_LIST_ATTEMPTS",
    s.integer(1, 100),
    "attempts at one listing step before the run fails, 1-100",
    default=5,
)

DR_MONGODB_JOB = Key(
    "DR_MONGODB_JOB",
    s.matching(re.compile(r"^projects/[^/]+/locations/[^/]+/jobs/[^/]+$"), "job name"),
    "a Cloud Run job name projects/P/locations/L/jobs/J",
    required=True,
)

BACKUP_BUCKETS = {
    "mongodb": MONGODB_GCS_BUCKET,
    "firestore": FIRESTORE_GCS_BUCKET,
    "gcs": GCS_BACKUP_BUCKET,
}  # each target's backup bucket: where the console, freshness checks and drills look

# --- restores ------------------------------------------------------------------------------
DR_STATE_BUCKET = Key(
    "DR_STATE_BUCKET", s.matching(s.BUCKET_NAME, "bucket name"), BUCKET, required=True
)
DR_LOCK_TTL_MINUTES = Key("DR_LOCK_TTL_MINUTES", s.integer(1), "minutes >= 1", default=720)

# --- freshness (missed-backup alerts) and recovery drills --------------------------------
GOOGLE_CLOUD_PROJECT = Key("GOOGLE_CLOUD_PROJECT", s.matching(s.PROJECT_ID, "project id"), PROJECT)
DR_RESTORE_TOPIC = Key(
    "DR_RESTORE_TOPIC",
    s.matching(re.compile(r"^(projects/[^/]+/topics/)?[A-Za-z][\w.~+%-]{2,254}$"), "topic"),
    "a Pub/Sub topic id or projects/P/topics/T",
    default="dr-restore",
)
DR_DRILL_BUCKET = Key("DR_DRILL_BUCKET", s.matching(s.BUCKET_NAME, "bucket name"), BUCKET)
DR_DRILL_TIMEOUT_MINUTES = Key(
    "DR_DRILL_TIMEOUT_MINUTES", s.integer(1), "minutes >= 1", default=240
)
DR_DRILL_WINDOW_DAYS = Key("DR_DRILL_WINDOW_DAYS", s.integer(1), "days >= 1", default=30)
OBJECTIVE = "a duration such as 90min, 26h or 2d (s, min, h, d)"
OBJECTIVES = {
    (kind, target): Key(f"{kind}_OBJECTIVE_{target.upper()}", s.duration, OBJECTIVE)
    for kind in ("RPO", "RTO")
    for target in TARGETS
}
DR_FRESHNESS_GRACE_MINUTES = Key(
    "DR_FRESHNESS_GRACE_MINUTES", s.integer(0), "minutes >= 0 past the schedule", default=180
)

# --- every process, from its environment alone (see process_environment) ------------------
DR_LOG_FORMAT = Key(
    "DR_LOG_FORMAT", s.matching(re.compile(r"^(text|json)$", re.I), "log format"), "text or json"
)
CLOUDSDK_CORE_PROJECT = Key(
    "CLOUDSDK_CORE_PROJECT", s.matching(s.PROJECT_ID, "project id"), PROJECT
)
STORAGE_EMULATOR_HOST = Key("STORAGE_EMULATOR_HOST", s.text, "the URL of a Cloud Storage emulator")
ENDPOINT = "the http(s) URL of a server speaking the API (a local stand-in)"
ENDPOINTS = {
    api: Key(name, s.matching(s.HTTP_URL, "URL"), ENDPOINT)
    for api, name in (
        ("firestore_admin", "DR_FIRESTORE_ADMIN_ENDPOINT"),
        ("cloud_run", "DR_CLOUD_RUN_ENDPOINT"),
        ("secret_manager", "DR_SECRET_MANAGER_ENDPOINT"),
    )
}
ENVIRONMENT_ONLY = frozenset(
    {DR_LOG_FORMAT.name, CLOUDSDK_CORE_PROJECT.name, STORAGE_EMULATOR_HOST.name}
    | {key.name for key in ENDPOINTS.values()}
)

# A config file naming an environment-only key is warned about as for any unknown key.
KNOWN_KEYS = (
    frozenset(key.name for key in globals().values() if isinstance(key, Key))
    | frozenset(key.name for key in OBJECTIVES.values())
    | frozenset(key.name for key in DR_RETENTION_WITHIN.values())
    | {s.CONFIG_FILE_VARIABLE}
) - ENVIRONMENT_ONLY


@dataclass(frozen=True)
class NotifySettings:
    """Where run reports go (``NOTIFY_EMAIL``, ``NOTIFY_WEBHOOK``) and how mail is sent."""

    emails: tuple[str, ...] = ()
    webhooks: tuple[Secret, ...] = ()
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_sender: str = "eyewearml-dr@localhost"
    smtp_starttls: bool = True
    timeout_seconds: float = 10.0
    webhook_format: str = "auto"


@dataclass(frozen=True)
class EncryptionSettings:
    """Key files (local, the old ``ENCRYPTION_KEY_FILE``) and/or a Secret Manager secret."""

    key_files: tuple[str, ...] = ()
    key_secret: str | None = None


@dataclass(frozen=True)
class TierRetention:
    """Each tier's retention policy: one series per tier, the manual tier with its own.

    A tier without a policy (one the target does not run) gets the empty
    policy, which deletes nothing.
    """

    policies: Mapping[str, Policy]
    enable_hourly: bool = False

    def policy(self, tier: str) -> Policy:
        return self.policies.get(tier, Policy())


@dataclass(frozen=True)
class MongoSettings:
    uri: Secret
    db_name: str | None
    is_atlas: bool
    bucket: str
    prefix: str
    encryption: EncryptionSettings
    retention: TierRetention
    compression_level: int
    parallel_collections: int
    notify: NotifySettings
    insertion_workers: int = 2
    outage_limit_seconds: int = 300


@dataclass(frozen=True)
class MongoFunctionSettings:
    """What the functions need of MongoDB: where its backups live, and the job that makes them.

    No ``MONGODB_URI``: the functions never connect to MongoDB (the job
    does), so they neither need nor hold the connection string. ``db_name``
    is the configured production database, for the restore safety rule.
    """

    job: str
    bucket: str
    prefix: str
    db_name: str | None
    retention: TierRetention
    notify: NotifySettings


@dataclass(frozen=True)
class FirestoreSettings:
    project_id: str
    bucket: str
    collection_ids: tuple[str, ...]
    retention: TierRetention
    database: str
    notify: NotifySettings
    export_timeout_minutes: int = 720
    verify_sample: int = 10_000
    state_bucket: str | None = None  # where restore imports in flight are recorded


@dataclass(frozen=True)
class GcsSettings:
    project_id: str | None
    source_buckets: tuple[str, ...]
    backup_bucket: str
    critical_files: tuple[str, ...]
    retention: TierRetention
    shard_size: int
    copy_workers: int
    notify: NotifySettings
    shard_topic: str = "dr-gcs-shards"
    list_page_size: int = 1000
    list_pages: int = 200
    function_project: str | None = None  # GOOGLE_CLOUD_PROJECT: where the shard topic lives
    list_range_objects: int = 5_000_000
    list_attempts: int = 5


@dataclass(frozen=True)
class RestoreSettings:
    state_bucket: str
    lock_ttl_minutes: int
    notify: NotifySettings


@dataclass(frozen=True)
class BackupLocation:
    """Where one target's backups live: its bucket and object prefix."""

    bucket: str
    prefix: str = ""


@dataclass(frozen=True)
class WatchSettings:
    """What the freshness check watches: every target whose backup bucket is configured.

    ``periods`` is each target's schedule period (:data:`shared.manifest.PERIODS`:
    MongoDB's is hourly when ``ENABLE_HOURLY`` is on, otherwise every target runs daily).
    """

    locations: Mapping[str, BackupLocation]
    periods: Mapping[str, timedelta]
    grace_minutes: int
    state_bucket: str
    notify: NotifySettings


@dataclass(frozen=True)
class DrillSettings:
    """A recovery drill: what to restore (the watched targets), where to ask, what to expect.

    ``objectives`` maps a target to its (RPO, RTO) objectives, each ``None``
    when not set (``RPO_OBJECTIVE_MONGODB=26h`` ...); a missing RPO objective
    defaults to the target's schedule plus the freshness grace.
    """

    watch: WatchSettings
    project: str | None
    restore_topic: str
    report_bucket: str
    objectives: Mapping[str, tuple[timedelta | None, timedelta | None]]
    timeout_minutes: int
    window_days: int


@dataclass(frozen=True)
class Endpoints:
    """Endpoint overrides for APIs without an emulator; ``None`` means Google's default."""

    firestore_admin: str | None = None
    cloud_run: str | None = None
    secret_manager: str | None = None


@dataclass(frozen=True)
class ConsoleSettings:
    """What ``dr`` reads besides a target's own settings, each key optional until used.

    ``locations`` holds the targets whose backup bucket is set; the accessors
    name the missing key when a command needs one that is not.
    """

    locations: Mapping[str, BackupLocation]
    state_bucket: str | None
    encryption: EncryptionSettings
    grace_minutes: int
    firestore_database: str

    def location(self, target: str) -> BackupLocation:
        if target not in self.locations:
            raise _unset(BACKUP_BUCKETS[target])
        return self.locations[target]

    def require_state_bucket(self) -> str:
        if self.state_bucket is None:
            raise _unset(DR_STATE_BUCKET)
        return self.state_bucket


def _unset(key: Key[Any]) -> ConfigError:
    return ConfigError(f"{key.name} is not set; expected {key.form}")


def sources(
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    secrets: SecretAccess | None = None,
) -> Sources:
    """The lookup every ``load_*`` uses; ``environ`` defaults to the process environment now."""
    return Sources(
        overrides=overrides,
        environ=os.environ if environ is None else environ,
        config_file=config_file,
        secrets=secrets,
        known_keys=KNOWN_KEYS,
    )


def _or_default(src: Sources, key: Key[T]) -> T:
    """A key with a default is never unset; ``require`` says so if one lacks a default."""
    return src.require(key)


def notify_settings(src: Sources) -> NotifySettings:
    return NotifySettings(
        emails=_or_default(src, NOTIFY_EMAIL),
        webhooks=_or_default(src, NOTIFY_WEBHOOK),
        smtp_host=_or_default(src, SMTP_HOST),
        smtp_port=_or_default(src, SMTP_PORT),
        smtp_username=src.get(SMTP_USERNAME),
        smtp_password=src.get(SMTP_PASSWORD),
        smtp_sender=_or_default(src, SMTP_FROM),
        smtp_starttls=_or_default(src, SMTP_STARTTLS),
        timeout_seconds=_or_default(src, NOTIFY_TIMEOUT_SECONDS),
        webhook_format=_or_default(src, NOTIFY_WEBHOOK_FORMAT),
    )


def encryption_settings(src: Sources) -> EncryptionSettings:
    return EncryptionSettings(
        key_files=_or_default(src, ENCRYPTION_KEY_FILE), key_secret=src.get(ENCRYPTION_KEY_SECRET)
    )


def mongodb_prefix(src: Sources) -> str:
    """``MONGODB_BACKUP_DIR`` (a local path in the old scripts) as an object prefix."""
    backup_dir = _or_default(src, MONGODB_BACKUP_DIR).strip("/")
    return f"{backup_dir}/" if backup_dir else ""


def tier_retention(
    src: Sources, scheduled: Mapping[str, Policy], *, enable_hourly: bool = False
) -> TierRetention:
    """The scheduled tiers' policies with the ``DR_RETENTION_WITHIN_*`` windows, plus manual.

    The windows apply to every scheduled tier's series (each measured from
    that tier's newest backup); manual backups keep their own count,
    ``DR_RETENTION_MANUAL``, so they never take a scheduled backup's place.
    """
    windows: dict[str, Any] = {
        f"within_{name}": src.get(key) or Span() for name, key in DR_RETENTION_WITHIN.items()
    }
    policies = {tier: replace(policy, **windows) for tier, policy in scheduled.items()}
    policies[MANUAL_TIER] = Policy(last=_or_default(src, DR_RETENTION_MANUAL))
    return TierRetention(policies, enable_hourly)


def _days_retention(src: Sources, key: Key[int]) -> TierRetention:
    """``FIRESTORE_RETENTION_DAYS``/``GCS_RETENTION_DAYS`` N: restic's ``within Nd`` per tier."""
    within = Span(days=_or_default(src, key))
    return tier_retention(src, {tier: Policy(within=within) for tier in SCHEDULED_TIERS})


def mongodb_location(src: Sources) -> BackupLocation:
    """Where MongoDB backups live (``MONGODB_GCS_BUCKET``, ``MONGODB_BACKUP_DIR``)."""
    return BackupLocation(src.require(MONGODB_GCS_BUCKET), mongodb_prefix(src))


def _mongodb_retention(src: Sources) -> TierRetention:
    """The old scripts' grandfather-father-son counts, one series per tier."""
    return tier_retention(
        src,
        {
            "hourly": Policy(hourly=_or_default(src, HOURLY_RETENTION)),
            "daily": Policy(daily=_or_default(src, RETENTION_DAILY)),
            "weekly": Policy(weekly=_or_default(src, RETENTION_WEEKLY)),
            "monthly": Policy(monthly=_or_default(src, RETENTION_MONTHLY)),
        },
        enable_hourly=_or_default(src, ENABLE_HOURLY),
    )


def mongodb_function_settings(src: Sources) -> MongoFunctionSettings:
    """The functions' MongoDB settings; ``MONGODB_URI`` is neither read nor needed."""
    location = mongodb_location(src)
    return MongoFunctionSettings(
        job=src.require(DR_MONGODB_JOB),
        bucket=location.bucket,
        prefix=location.prefix,
        db_name=src.get(MONGODB_DB_NAME),
        retention=_mongodb_retention(src),
        notify=notify_settings(src),
    )


def mongodb_settings(src: Sources) -> MongoSettings:
    """The job's MongoDB settings: everything a dump or a restore needs, the URI included."""
    uri = src.require(MONGODB_URI)
    location = mongodb_location(src)
    return MongoSettings(
        uri=uri,
        db_name=src.get(MONGODB_DB_NAME),
        is_atlas=_or_default(src, MONGODB_IS_ATLAS),
        bucket=location.bucket,
        prefix=location.prefix,
        encryption=encryption_settings(src),
        retention=_mongodb_retention(src),
        compression_level=_or_default(src, COMPRESSION_LEVEL),
        parallel_collections=_or_default(src, MONGODB_PARALLEL_COLLECTIONS),
        notify=notify_settings(src),
        insertion_workers=_or_default(src, MONGODB_INSERTION_WORKERS),
        outage_limit_seconds=_or_default(src, MONGODB_OUTAGE_LIMIT_SECONDS),
    )


def firestore_settings(src: Sources) -> FirestoreSettings:
    return FirestoreSettings(
        project_id=src.require(FIRESTORE_PROJECT_ID),
        bucket=src.require(FIRESTORE_GCS_BUCKET),
        collection_ids=_or_default(src, FIRESTORE_COLLECTION_IDS),
        retention=_days_retention(src, FIRESTORE_RETENTION_DAYS),
        database=_or_default(src, FIRESTORE_DATABASE),
        notify=notify_settings(src),
        export_timeout_minutes=_or_default(src, FIRESTORE_EXPORT_TIMEOUT_MINUTES),
        verify_sample=_or_default(src, FIRESTORE_VERIFY_SAMPLE),
        state_bucket=_optional(src, DR_STATE_BUCKET),
    )


def gcs_settings(src: Sources) -> GcsSettings:
    return GcsSettings(
        project_id=src.get(GCS_PROJECT_ID),
        source_buckets=src.require(GCS_SOURCE_BUCKETS),
        backup_bucket=src.require(GCS_BACKUP_BUCKET),
        critical_files=_or_default(src, GCS_CRITICAL_FILES),
        retention=_days_retention(src, GCS_RETENTION_DAYS),
        shard_size=_or_default(src, GCS_SHARD_SIZE),
        copy_workers=_or_default(src, GCS_COPY_WORKERS),
        notify=notify_settings(src),
        shard_topic=_or_default(src, DR_GCS_SHARD_TOPIC),
        list_page_size=_or_default(src, GCS_LIST_PAGE_SIZE),
        list_pages=_or_default(src, GCS_LIST_PAGES),
        function_project=src.get(GOOGLE_CLOUD_PROJECT),
        list_range_objects=_or_default(src, GCS_LIST_RANGE_OBJECTS),
        list_attempts=_or_default(src, GCS_LIST_ATTEMPTS),
    )


def restore_settings(src: Sources) -> RestoreSettings:
    return RestoreSettings(
        state_bucket=src.require(DR_STATE_BUCKET),
        lock_ttl_minutes=_or_default(src, DR_LOCK_TTL_MINUTES),
        notify=notify_settings(src),
    )


def _optional(src: Sources, key: Key[T]) -> T | None:
    """A key that is required where its target runs, and optional for a check that spans targets."""
    return src.get(replace(key, required=False))


def backup_locations(src: Sources) -> dict[str, BackupLocation]:
    """Each target whose backup bucket is set (:data:`BACKUP_BUCKETS`), in :data:`TARGETS` order."""
    buckets = {target: _optional(src, key) for target, key in BACKUP_BUCKETS.items()}
    return {
        target: BackupLocation(bucket, mongodb_prefix(src) if target == "mongodb" else "")
        for target in TARGETS
        if (bucket := buckets.get(target))
    }


def watch_settings(src: Sources) -> WatchSettings:
    locations = backup_locations(src)
    if not locations:
        names = ", ".join(key.name for key in BACKUP_BUCKETS.values())
        raise ConfigError(f"no backup bucket is set; expected at least one of {names}")
    hourly = _or_default(src, ENABLE_HOURLY)
    return WatchSettings(
        locations=locations,
        periods={
            t: PERIODS["hourly" if t == "mongodb" and hourly else "daily"][0] for t in locations
        },
        grace_minutes=_or_default(src, DR_FRESHNESS_GRACE_MINUTES),
        state_bucket=src.require(DR_STATE_BUCKET),
        notify=notify_settings(src),
    )


def drill_settings(src: Sources) -> DrillSettings:
    watch = watch_settings(src)
    grace = timedelta(minutes=watch.grace_minutes)
    objectives = {
        target: (
            src.get(OBJECTIVES["RPO", target]) or watch.periods[target] + grace,
            src.get(OBJECTIVES["RTO", target]),
        )
        for target in watch.locations
    }
    first_bucket = next(iter(watch.locations.values())).bucket
    return DrillSettings(
        watch=watch,
        project=src.get(GOOGLE_CLOUD_PROJECT),
        restore_topic=_or_default(src, DR_RESTORE_TOPIC),
        report_bucket=src.get(DR_DRILL_BUCKET) or first_bucket,
        objectives=objectives,
        timeout_minutes=_or_default(src, DR_DRILL_TIMEOUT_MINUTES),
        window_days=_or_default(src, DR_DRILL_WINDOW_DAYS),
    )


def process_environment(environ: Mapping[str, str] | None = None) -> Sources:
    """The process environment alone, never a config file.

    For the variables read before any config file is (the log format, the
    project a log line's trace belongs to) and for those the client libraries
    read from the environment themselves (an emulator, the project), where a
    value in a file would be half-applied.
    """
    env = os.environ if environ is None else environ
    return sources(environ={k: v for k, v in env.items() if k != s.CONFIG_FILE_VARIABLE})


def log_format(src: Sources) -> str | None:
    """``DR_LOG_FORMAT``: ``text`` or ``json``; ``None`` lets the stream decide."""
    chosen = src.get(DR_LOG_FORMAT)
    return chosen.lower() if chosen else None


def project(src: Sources) -> str | None:
    """``GOOGLE_CLOUD_PROJECT``, else gcloud's ``CLOUDSDK_CORE_PROJECT``."""
    return src.get(GOOGLE_CLOUD_PROJECT) or src.get(CLOUDSDK_CORE_PROJECT)


def storage_emulator(src: Sources) -> str | None:
    """``STORAGE_EMULATOR_HOST``: a local Cloud Storage server, used without credentials."""
    return src.get(STORAGE_EMULATOR_HOST)


def endpoints(src: Sources) -> Endpoints:
    """The ``DR_*_ENDPOINT`` overrides of the APIs that have no emulator."""
    return Endpoints(**{api: src.get(key) for api, key in ENDPOINTS.items()})


def target_retention(src: Sources, target: str) -> TierRetention:
    """The retention ``target``'s backup runs apply (from its settings, as the runs load them)."""
    loaders: Mapping[str, Callable[[Sources], MongoSettings | FirestoreSettings | GcsSettings]]
    loaders = {"mongodb": mongodb_settings, "firestore": firestore_settings, "gcs": gcs_settings}
    return loaders[target](src).retention


def console_settings(src: Sources) -> ConsoleSettings:
    return ConsoleSettings(
        locations=backup_locations(src),
        state_bucket=_optional(src, DR_STATE_BUCKET),
        encryption=encryption_settings(src),
        grace_minutes=_or_default(src, DR_FRESHNESS_GRACE_MINUTES),
        firestore_database=_or_default(src, FIRESTORE_DATABASE),
    )
