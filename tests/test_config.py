"""Configuration: the guide's .conf files load verbatim; precedence; errors name the key."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from shared import config
from shared.conffile import parse_conf
from shared.errors import ConfigError
from shared.retention import Policy, Span

CONF = Path(__file__).parent / "data" / "conf"
SLACK = "https://hooks.slack.com/services/TXXXXXX/BXXXXXX/XXXXXXXX"


def load(kind: str, environ: dict[str, str] | None = None, **overrides: str) -> Any:
    src = config.sources(
        config_file=str(CONF / f"{kind}_backup.conf"), environ=environ or {}, overrides=overrides
    )
    return getattr(config, f"{kind}_settings")(src)


def test_the_guides_gcs_conf_loads_verbatim() -> None:
    settings = load("gcs")
    assert settings.project_id == "eyewearml-project"
    assert settings.source_buckets == ("eyewearml-assets", "eyewearml-models", "eyewearml-data")
    assert settings.backup_bucket == "eyewearml-backups"
    assert settings.critical_files == (
        "models/face-analysis-v2.0/model.pb",
        "config/production.json",
    )
    assert settings.retention.policy("daily") == Policy(within=Span(days=90))
    assert settings.notify.emails == ("devops@example.com",)
    assert [hook.reveal() for hook in settings.notify.webhooks] == [SLACK]


def test_the_guides_firestore_conf_loads_verbatim() -> None:
    settings = load("firestore")
    assert settings.project_id == "eyewearml-project"
    assert settings.bucket == "eyewearml-backups"
    assert settings.collection_ids == ("users", "products", "sessions")
    assert settings.retention.policy("weekly") == Policy(within=Span(days=30))
    assert settings.database == "(default)"


def test_the_guides_mongodb_conf_loads_verbatim_with_its_uri_from_the_environment() -> None:
    environ = {
        "DISASTER_RECOVERY_DEVELOPER_GUIDE_SECRET_1": "mongodb://backup:s3cret@db.internal:27017/",
        "MONGODB_GCS_BUCKET": "eyewearml-backups",
    }
    settings = load("mongodb", environ)
    assert settings.uri.reveal() == "mongodb://backup:s3cret@db.internal:27017/"
    assert settings.db_name == "eyewear_ml"
    assert settings.is_atlas is False
    assert settings.prefix == "path/to/backup/directory/"
    assert settings.encryption.key_files == ("/etc/eyewearml/backup_encryption.key",)
    retention = settings.retention
    assert retention.policy("daily") == Policy(daily=30)
    assert retention.policy("weekly") == Policy(weekly=12)
    assert retention.policy("monthly") == Policy(monthly=12)
    assert (retention.enable_hourly, retention.policy("hourly")) == (True, Policy(hourly=24))
    assert retention.policy("manual") == Policy(last=7)
    assert "s3cret" not in repr(settings)


def test_an_unset_reference_is_named_in_the_error() -> None:
    with pytest.raises(
        ConfigError, match=r"MONGODB_URI is empty .*DISASTER_RECOVERY_DEVELOPER_GUIDE_SECRET_1"
    ):
        load("mongodb", {"MONGODB_GCS_BUCKET": "eyewearml-backups"})


def test_precedence_argument_over_environment_over_file_over_default() -> None:
    assert load("gcs").shard_size == 1000  # default
    week, three_days = Policy(within=Span(days=7)), Policy(within=Span(days=3))
    assert load("gcs", {"GCS_RETENTION_DAYS": "7"}).retention.policy("daily") == week
    overridden = load("gcs", {"GCS_RETENTION_DAYS": "7"}, GCS_RETENTION_DAYS="3")
    assert overridden.retention.policy("daily") == three_days


def test_within_windows_join_every_scheduled_tier_and_manual_keeps_its_own_count() -> None:
    environ = {
        "MONGODB_GCS_BUCKET": "eyewearml-backups",
        "DISASTER_RECOVERY_DEVELOPER_GUIDE_SECRET_1": "mongodb://db.internal/",
        "DR_RETENTION_WITHIN_DAILY": "14d",
        "DR_RETENTION_WITHIN_YEARLY": "5y",
        "DR_RETENTION_MANUAL": "3",
    }
    retention = load("mongodb", environ).retention
    windows: dict[str, Any] = {"within_daily": Span(days=14), "within_yearly": Span(years=5)}
    assert retention.policy("daily") == Policy(daily=30, **windows)
    assert retention.policy("hourly") == Policy(hourly=24, **windows)
    assert retention.policy("manual") == Policy(last=3)
    gcs = load("gcs", {"DR_RETENTION_WITHIN_HOURLY": "2d", "GCS_RETENTION_DAYS": "0"}).retention
    assert gcs.policy("daily") == Policy(within_hourly=Span(days=2))
    assert load("gcs", {"GCS_RETENTION_DAYS": "0"}).retention.policy("daily").is_empty()


def test_the_config_file_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_CONFIG_FILE", str(CONF / "firestore_backup.conf"))
    assert config.firestore_settings(config.sources()).collection_ids == (
        "users",
        "products",
        "sessions",
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "GCS_RETENTION_DAYS",
            "ninety",
            r"GCS_RETENTION_DAYS from environment variable is 'ninety'; expected a whole number >= 0",
        ),
        ("GCS_RETENTION_DAYS", "-1", r"GCS_RETENTION_DAYS .*expected a whole number >= 0"),
        (
            "GCS_BACKUP_BUCKET",
            "Bad_Bucket!",
            r"GCS_BACKUP_BUCKET .*expected a Cloud Storage bucket name",
        ),
        (
            "GCS_SOURCE_BUCKETS",
            "ok-bucket,UPPER",
            r"GCS_SOURCE_BUCKETS .*comma-separated bucket names",
        ),
        ("NOTIFY_EMAIL", "devops-at-example.com", r"NOTIFY_EMAIL .*email addresses"),
        ("SMTP_PORT", "70000", r"SMTP_PORT .*1-65535"),
        ("SMTP_STARTTLS", "maybe", r"SMTP_STARTTLS .*true or false"),
        (
            "DR_RETENTION_WITHIN_WEEKLY",
            "3 weeks",
            r"DR_RETENTION_WITHIN_WEEKLY .*expected a duration such as 30d",
        ),
        ("DR_RETENTION_MANUAL", "-1", r"DR_RETENTION_MANUAL .*expected a whole number >= 0"),
    ],
)
def test_a_bad_value_names_the_key_and_the_expected_form(
    key: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load("gcs", {key: value})


def test_a_bad_secret_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load("gcs", {"NOTIFY_WEBHOOK": "not-a-url-but-a-token-xyz"})
    assert "NOTIFY_WEBHOOK" in str(caught.value)
    assert "token-xyz" not in str(caught.value)


def test_a_missing_required_key_is_named() -> None:
    with pytest.raises(
        ConfigError, match=r"GCS_BACKUP_BUCKET is not set; expected a Cloud Storage bucket"
    ):
        config.gcs_settings(config.sources(environ={"GCS_SOURCE_BUCKETS": "eyewearml-assets"}))


def test_an_unknown_key_is_a_warning_with_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "gcs.conf"
    conf.write_text(
        'GCS_SOURCE_BUCKETS="a-bucket"\nGCS_BACKUP_BUCKET="backups"\nGCS_RETENTON_DAYS=3\n'
    )
    with caplog.at_level(logging.WARNING):
        config.gcs_settings(config.sources(config_file=str(conf), environ={}))
    assert "unknown key GCS_RETENTON_DAYS" in caplog.text
    assert "line 3" in caplog.text


def test_secret_references_are_resolved_through_the_accessor() -> None:
    seen: list[str] = []

    def access(version: str) -> tuple[str, bytes]:
        seen.append(version)
        return version.replace("latest", "4"), b"mongodb+srv://backup:pw@cluster0.example.net/\n"

    settings = config.mongodb_settings(
        config.sources(
            environ={
                "MONGODB_URI": "projects/eyewearml-project/secrets/mongodb-uri",
                "MONGODB_GCS_BUCKET": "backups",
            },
            secrets=access,
        )
    )
    assert seen == ["projects/eyewearml-project/secrets/mongodb-uri/versions/latest"]
    assert settings.uri.reveal() == "mongodb+srv://backup:pw@cluster0.example.net/"


def test_a_secret_reference_without_secret_access_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="MONGODB_URI is a Secret Manager reference"):
        config.mongodb_settings(
            config.sources(
                environ={
                    "MONGODB_URI": "projects/p-123456/secrets/uri",
                    "MONGODB_GCS_BUCKET": "backups",
                }
            )
        )


def test_nothing_is_read_at_import_time() -> None:
    """Loading twice sees a changed environment: settings are read at call time."""
    first = config.gcs_settings(
        config.sources(environ={"GCS_SOURCE_BUCKETS": "a-bucket", "GCS_BACKUP_BUCKET": "b-bucket"})
    )
    second = config.gcs_settings(
        config.sources(environ={"GCS_SOURCE_BUCKETS": "c-bucket", "GCS_BACKUP_BUCKET": "b-bucket"})
    )
    assert (first.source_buckets, second.source_buckets) == (("a-bucket",), ("c-bucket",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('A="x y"  # comment', "x y"),
        ("A='literal $HOME'", "literal $HOME"),
        ('A="home is $HOME"', "home is /home/ops"),
        ('A="${HOME}/x"', "/home/ops/x"),
        ('A="escaped \\$HOME and \\"quote\\""', 'escaped $HOME and "quote"'),
        ("export A=plain", "plain"),
        ("A=", ""),
        ('A=""', ""),
        ("A=a'b c'\"d\"", "ab cd"),
        ('A="price: $5"', "price: $5"),
    ],
)
def test_shell_quoting_and_expansion(text: str, expected: str) -> None:
    assert parse_conf(text, "t.conf", {"HOME": "/home/ops"}).values["A"].value == expected


def test_a_reference_to_an_earlier_key_in_the_file() -> None:
    parsed = parse_conf('BASE="gs://b"\nFULL="${BASE}/x"', "t.conf", {})
    assert parsed.values["FULL"].value == "gs://b/x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=$(cat /etc/passwd)", "command substitution"),
        ('A="`id`"', "command substitution"),
        ("A=x; rm -rf /", "shell syntax ';'"),
        ("A=two words", "unexpected text after the value of A"),
        ('A="open', "unterminated double quote"),
        ("A='open", "unterminated single quote"),
        ("1A=x", 'expected KEY="value"'),
        ("just words", 'expected KEY="value"'),
    ],
)
def test_lines_a_shell_would_run_are_refused_with_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"t\.conf:2: .*" + expected.replace("(", r"\(")):
        parse_conf("# header\n" + text, "t.conf", {})


HUGE = "9" * 5_000_000 + "x" * 5_000_000  # 10 MB: far over Cloud Logging's entry limit


@pytest.mark.parametrize(
    "key",
    [
        "GCS_RETENTION_DAYS",
        "NOTIFY_TIMEOUT_SECONDS",
        "GCS_BACKUP_BUCKET",
        "NOTIFY_EMAIL",
        "DR_RETENTION_WITHIN_DAILY",
    ],
)
def test_a_huge_bad_value_is_shown_as_a_short_prefix(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key} from environment variable is '9+'\.\.\.") as e:
        load("gcs", {key: HUGE})
    message = str(e.value)
    assert len(message) < 500
    assert "(10,000,000 characters)" in message


def test_a_huge_bad_line_in_a_conf_file_is_shown_as_a_short_prefix(tmp_path: Path) -> None:
    conf = tmp_path / "huge.conf"
    conf.write_text(f'GCS_BACKUP_BUCKET="b" {HUGE}\n{HUGE}\n')
    with pytest.raises(ConfigError, match=r"unexpected text after the value") as caught:
        config.sources(config_file=str(conf), environ={})
    assert len(str(caught.value)) < 300


def test_a_byte_order_mark_at_the_top_of_a_conf_file_is_skipped(tmp_path: Path) -> None:
    conf = tmp_path / "bom.conf"
    conf.write_bytes(b'\xef\xbb\xbfGCS_SOURCE_BUCKETS="a-bucket"\nGCS_BACKUP_BUCKET="backups"\n')
    settings = config.gcs_settings(config.sources(config_file=str(conf), environ={}))
    assert settings.source_buckets == ("a-bucket",)
    assert parse_conf('\ufeffA="x"', "t.conf", {}).values["A"].value == "x"


def test_a_byte_order_mark_inside_a_conf_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"t\.conf:2: .*byte order mark, BOM"):
        parse_conf('A="x"\n\ufeffB="y"', "t.conf", {})


def test_process_settings_come_from_the_environment_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "dr.conf"
    conf.write_text('DR_LOG_FORMAT="text"\nDR_CLOUD_RUN_ENDPOINT="http://127.0.0.1:1"\n')
    environ = {
        "DR_CONFIG_FILE": str(conf),
        "CLOUDSDK_CORE_PROJECT": "eyewearml-dev",
        "DR_SECRET_MANAGER_ENDPOINT": "http://127.0.0.1:8085",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443",
    }
    src = config.process_environment(environ)
    assert config.log_format(src) is None  # a config file never sets these
    with caplog.at_level(logging.WARNING):
        config.sources(environ=environ)
    assert f"unknown key DR_LOG_FORMAT in {conf} line 1 is ignored" in caplog.text
    assert config.project(src) == "eyewearml-dev"
    assert config.project(config.process_environment({"GOOGLE_CLOUD_PROJECT": "eyewearml-prod",
                                                      "CLOUDSDK_CORE_PROJECT": "other-one"})) == (
        "eyewearml-prod"
    )  # fmt: skip
    assert config.storage_emulator(src) == "http://127.0.0.1:4443"
    assert config.endpoints(src) == config.Endpoints(secret_manager="http://127.0.0.1:8085")
    assert config.log_format(config.process_environment({"DR_LOG_FORMAT": "JSON"})) == "json"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("DR_LOG_FORMAT", "xml", "DR_LOG_FORMAT from environment variable is 'xml'; expected text or json"),
        ("DR_CLOUD_RUN_ENDPOINT", "localhost:8080", "DR_CLOUD_RUN_ENDPOINT from environment variable is 'localhost:8080'; expected the http(s) URL"),
        ("GOOGLE_CLOUD_PROJECT", "My_Project", "GOOGLE_CLOUD_PROJECT from environment variable is 'My_Project'; expected a Google Cloud project id"),
        ("CLOUDSDK_CORE_PROJECT", "x", "CLOUDSDK_CORE_PROJECT from environment variable is 'x'; expected a Google Cloud project id"),
    ],
)  # fmt: skip
def test_a_bad_process_setting_names_the_key_its_origin_and_form(
    key: str, value: str, expected: str
) -> None:
    src = config.process_environment({key: value})
    with pytest.raises(ConfigError, match=re.escape(expected)):
        (config.log_format(src), config.project(src), config.endpoints(src))
