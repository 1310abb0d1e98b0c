"""Static checks of the Terraform in infra/ against the product it deploys.

``terraform validate`` needs the google provider, so these tests read the
configuration with python-hcl2 and check what neither Terraform nor checkov
can: that every deployed function is an entry point of ``functions/main.py``
fed by a topic that exists, that every setting a function or the job receives
is a key the product reads, that secrets travel only as references, that the
validations accept what the product accepts, and that every message that keeps
failing ends up in a dead-letter subscription instead of being lost.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared import config, logs, reporting, settings_source
from shared.notify import RunReport

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
MODULE = INFRA / "modules" / "disaster_recovery"
ENVIRONMENTS = ("dev", "prod")
ROOTS = (MODULE, *(INFRA / "environments" / env for env in ENVIRONMENTS))

_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


@cache
def parsed(directory: Path) -> dict[str, Any]:
    """Every ``*.tf`` file of a directory, merged: blocks by type, then by label(s)."""
    merged: dict[str, Any] = {
        "variable": {},
        "output": {},
        "locals": {},
        "module": {},
        "resource": {},
        "data": {},
    }
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            document = hcl2.load(handle, serialization_options=_OPTIONS)
        for kind, blocks in document.items():
            for block in blocks:
                if kind in {"resource", "data"}:
                    for rtype, named in block.items():
                        merged[kind].setdefault(rtype, {}).update(named)
                elif kind in merged:
                    merged[kind].update(block)
    return merged


def module() -> dict[str, Any]:
    return parsed(MODULE)


def resource(rtype: str, name: str) -> dict[str, Any]:
    return dict(module()["resource"][rtype][name])


def local(name: str) -> Any:
    return module()["locals"][name]


def functions() -> dict[str, dict[str, Any]]:
    """``local.functions``: each entry point's spec over the shared defaults."""
    assert local("functions") == (
        "${{for entry_point, spec in local.function_specs : "
        "entry_point => merge(local.function_defaults, spec)}}"
    )
    defaults = local("function_defaults")
    return {name: {**defaults, **spec} for name, spec in local("function_specs").items()}


def variable_type(spec: Mapping[str, Any]) -> str:
    return str(spec.get("type", "")).removeprefix("${").removesuffix("}")


def hcl_regexes(condition: str) -> list[str]:
    """The patterns of the ``regex("...", ...)`` calls in a validation condition."""
    return [
        re.sub(r"\\(.)", r"\1", pattern)
        for pattern in re.findall(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    ]


def main_py_entry_points() -> set[str]:
    tree = ast.parse((REPO / "functions" / "main.py").read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("functions_framework" in ast.unparse(d) for d in node.decorator_list)
    }


def product_keys() -> set[str]:
    """Keys the product reads: config.KNOWN_KEYS and the DR_*/GOOGLE_* names in its source."""
    names: set[str] = set(config.KNOWN_KEYS)
    for directory in ("shared", "functions"):
        for path in (REPO / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and re.fullmatch(r"(DR|GOOGLE)_[A-Z0-9_]+", node.value)
                ):
                    names.add(node.value)
    return names


def infra_files() -> Iterator[Path]:
    for path in sorted(INFRA.rglob("*")):
        if path.is_file() and ".terraform" not in path.parts:
            yield path


# --- variables ---------------------------------------------------------------------------


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_variable_is_typed_and_described(root: Path) -> None:
    variables = parsed(root)["variable"]
    assert variables
    for name, spec in variables.items():
        assert variable_type(spec), f"{root.name}: variable {name} has no type"
        assert len(str(spec.get("description", ""))) >= 10, f"{name} has no description"


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_output_is_described(root: Path) -> None:
    for name, spec in parsed(root)["output"].items():
        assert len(str(spec.get("description", ""))) >= 10, f"output {name} has no description"


def test_every_module_input_with_a_format_is_validated() -> None:
    """Only booleans go unvalidated: every string, number, list or map has a form or range."""
    for name, spec in module()["variable"].items():
        if variable_type(spec) == "bool":
            continue
        validations = spec.get("validation", [])
        assert validations, f"variable {name} ({variable_type(spec)}) has no validation"
        for validation in validations:
            assert f"var.{name}" in validation["condition"], name
            assert str(validation["error_message"]).endswith("."), name


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("project_id", ["eyewearml-prod", "abc123"], ["Eyewear", "ab", "1project", "end-"]),
        ("region", ["us-central1", "europe-west4"], ["US", "us-central", "us_central1"]),
        ("bucket_location", ["US", "EU", "NAM4", "us-central1"], ["us central1", ""]),
        ("backup_bucket_name", ["eyewearml-backups", "a.b_c-d"], ["Backups", "-ab", "ab"]),
        (
            "gcs_backup_schedule",
            ["0 3 * * *", "*/10 * * * *", "0 4 * * SUN"],
            ["0 3 * *", "daily", "0 3 * * * *"],
        ),
        (
            "mongodb_job_image",
            [
                "us-central1-docker.pkg.dev/p/eyewearml-dr/mongodb-job:v1",
                "us-central1-docker.pkg.dev/p/r/job@sha256:" + "a" * 64,
            ],
            ["mongodb-job", "us-central1-docker.pkg.dev/p/r/job"],
        ),
        ("mongodb_uri_secret_id", ["dr-mongodb-uri", "A_b-9"], ["dr/uri", "", "a b"]),
        ("notify_emails", ["devops@example.com"], ["devops", "a@b", "a b@c.d"]),
        ("mongodb_db_name", ["", "eyewear_ml"], ["a.b", "a b", 'a"b', "a\\b", "a$b"]),
        ("smtp_host", ["", "smtp.example.com"], ["smtp example", "-smtp"]),
        ("firestore_database", ["(default)", "orders-db"], ["(other)", "Orders", "ab", "1db"]),
        (
            "bucket_kms_key_name",
            ["", "projects/p/locations/us/keyRings/r/cryptoKeys/k"],
            ["projects/p/keyRings/r"],
        ),
    ],
)
def test_format_validations_accept_and_reject(name: str, good: list[str], bad: list[str]) -> None:
    """Each validation's pattern (RE2; these use only syntax Python shares) on sample values."""
    condition = module()["variable"][name]["validation"][0]["condition"]
    patterns = hcl_regexes(condition)
    assert patterns, f"no regex in the validation of {name}"
    empty_allowed = f'var.{name} == ""' in condition
    for value in good:
        assert (value == "" and empty_allowed) or re.search(patterns[0], value), (name, value)
    for value in bad:
        assert not (value == "" and empty_allowed), (name, value)
        assert not re.search(patterns[0], value), (name, value)


def test_validations_accept_what_the_product_accepts() -> None:
    """A bucket or project the product would refuse fails at plan time, and vice versa."""
    variables = module()["variable"]
    for name in (
        "backup_bucket_name",
        "state_bucket_name",
        "gcs_source_buckets",
        "restore_target_buckets",
    ):
        assert settings_source.BUCKET_NAME.pattern in hcl_regexes(
            variables[name]["validation"][0]["condition"]
        ), name
    for name in ("project_id", "firestore_project_id", "gcs_project_id"):
        assert settings_source.PROJECT_ID.pattern in hcl_regexes(
            variables[name]["validation"][0]["condition"]
        ), name


def test_guide_schedules_are_the_defaults() -> None:
    """The guide's crontab: MongoDB 01:00, Firestore 02:00, GCS 03:00, in UTC."""
    variables = module()["variable"]
    assert variables["mongodb_daily_schedule"]["default"] == "0 1 * * *"
    assert variables["firestore_backup_schedule"]["default"] == "0 2 * * *"
    assert variables["gcs_backup_schedule"]["default"] == "0 3 * * *"
    assert variables["firestore_complete_schedule"]["default"] == "*/10 * * * *"
    assert variables["schedule_time_zone"]["default"] == "Etc/UTC"


# --- environments --------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_calls_the_module_with_every_required_input(env: str) -> None:
    root = parsed(INFRA / "environments" / env)
    inputs = set(module()["variable"])
    required = {name for name, spec in module()["variable"].items() if "default" not in spec}
    call = root["module"]["disaster_recovery"]
    assert call["source"] == "../../modules/disaster_recovery"
    arguments = set(call) - {"source"}
    assert required <= arguments, f"{env} misses {sorted(required - arguments)}"
    assert arguments <= inputs, f"{env} passes unknown inputs {sorted(arguments - inputs)}"
    assert call["environment"] == env


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_variables_are_used_and_the_example_sets_them(env: str) -> None:
    directory = INFRA / "environments" / env
    declared = parsed(directory)["variable"]
    call = parsed(directory)["module"]["disaster_recovery"]
    unfed = [name for name in declared if call.get(name) != f"${{var.{name}}}"]
    assert not unfed, f"{env} declares variables that feed no module input of their name: {unfed}"
    with (directory / "terraform.tfvars.example").open(encoding="utf-8") as handle:
        example = hcl2.load(handle, serialization_options=_OPTIONS)
    required = {name for name, spec in declared.items() if "default" not in spec}
    assert required <= set(example), f"the example misses {sorted(required - set(example))}"
    assert set(example) <= set(declared), f"unknown in the example: {set(example) - set(declared)}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_state_is_a_gcs_backend_with_its_own_prefix(env: str) -> None:
    with (INFRA / "environments" / env / "backend.tf").open(encoding="utf-8") as handle:
        backend = hcl2.load(handle, serialization_options=_OPTIONS)["terraform"][0]["backend"]
    gcs = backend[0]["gcs"]
    assert gcs["prefix"] == f"eyewearml-dr/{env}"
    assert "bucket" not in gcs, "the state bucket is given at init (partial configuration)"


# --- functions and topics -----------------------------------------------------------------


def test_functions_are_exactly_the_entry_points_of_main_py() -> None:
    specs = functions()
    assert set(specs) == main_py_entry_points()
    build = resource("google_cloudfunctions2_function", "this")["build_config"][0]
    assert build["entry_point"] == "${each.key}"
    names = [spec["name"] for spec in specs.values()]
    assert len(set(names)) == len(names)


def test_every_function_is_fed_by_its_own_existing_topic() -> None:
    topics = local("topics")
    fed = [spec["topic"] for spec in functions().values()]
    assert sorted(fed) == sorted(topics), "each topic pushes to exactly one function"
    push = resource("google_pubsub_subscription", "push")
    assert push["for_each"] == "${local.functions}"
    assert push["topic"] == "${google_pubsub_topic.this[each.value.topic].id}"
    endpoint = push["push_config"][0]["push_endpoint"]
    assert endpoint.endswith("/projects/${var.project_id}/topics/${each.value.topic}")
    invoker = resource("google_cloud_run_v2_service_iam_member", "push_invoker")
    assert invoker["for_each"] == "${local.functions}"
    assert invoker["role"] == "roles/run.invoker"
    accounts = set(local("runtime_accounts"))
    assert {spec["account"] for spec in functions().values()} <= accounts


def test_functions_are_internal_and_end_before_the_ack_deadline() -> None:
    config_block = resource("google_cloudfunctions2_function", "this")["service_config"][0]
    assert config_block["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert config_block["timeout_seconds"] == "${var.function_timeout_seconds}"
    timeout = module()["variable"]["function_timeout_seconds"]
    assert timeout["default"] <= 540
    assert "var.function_timeout_seconds <= 540" in timeout["validation"][0]["condition"]
    assert resource("google_pubsub_subscription", "push")["ack_deadline_seconds"] > 540


def env_keys(set_names: list[str]) -> set[str]:
    env_sets = local("env_sets")
    return {key for name in set_names for key in env_sets[name]}


def test_every_setting_is_a_key_the_product_reads() -> None:
    """Functions and the job get the settings of their runtime account, all read by the product."""
    known = product_keys()
    by_account = local("env_sets_by_account")
    assert set(by_account) == set(local("runtime_accounts"))
    for account, set_names in by_account.items():
        unknown = env_keys(set_names) - known
        assert not unknown, f"{account} code gets settings the product does not read: {unknown}"
    assert "env_sets_by_account" in local("env_by_account")
    service = resource("google_cloudfunctions2_function", "this")["service_config"][0]
    assert service["environment_variables"] == "${local.env_by_account[each.value.account]}"
    assert service["service_account_email"] == (
        "${google_service_account.runtime[each.value.account].email}"
    )
    job = resource("google_cloud_run_v2_job", "mongodb")["template"][0]["template"][0]
    assert job["service_account"] == '${google_service_account.runtime["mongodb-job"].email}'
    container = job["containers"][0]
    static = {env["name"] for env in container["env"]}
    assert container["dynamic"][0]["env"]["for_each"] == '${local.env_by_account["mongodb-job"]}'
    assert "mongodb_trigger" not in by_account["mongodb-job"], "the job never starts itself"
    unknown = static - known
    assert not unknown, f"the MongoDB job gets settings the product does not read: {unknown}"


def test_the_job_runs_the_product_module() -> None:
    job = resource("google_cloud_run_v2_job", "mongodb")["template"][0]["template"][0]
    container = job["containers"][0]
    assert [*container["command"], *container["args"]] == ["python", "-m", "shared.mongodb.job"]
    assert (REPO / "shared" / "mongodb" / "job.py").is_file()


# --- secrets -------------------------------------------------------------------------------

_SECRET_LOOKING = [
    re.compile(r"mongodb(\+srv)?://[^\s\"'/]*:[^\s\"'@]*@"),  # a URI with a password
    re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{8,}"),
    re.compile(r"\b[0-9a-f]{64}\b"),  # a hex key
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(password|secret_data|api_key|token)\s*=\s*\"[^\"$]+\""),
]


def test_no_secret_value_is_in_the_terraform() -> None:
    """Secret versions (whose data would land in the state) are never managed here."""
    for root in ROOTS:
        assert "google_secret_manager_secret_version" not in parsed(root)["resource"], root
    for path in infra_files():
        text = path.read_text(encoding="utf-8")
        for pattern in _SECRET_LOOKING:
            assert not pattern.search(text), (
                f"{path}: looks like a secret value ({pattern.pattern})"
            )


def test_secret_settings_are_references_the_product_resolves() -> None:
    notify = local("env_sets")["notify"]
    for key in ("NOTIFY_WEBHOOK", "SMTP_PASSWORD"):
        assert notify[key].startswith("${lookup(local.secret_refs, "), key
    reference = re.search(r'=> "([^"]+)"', local("secret_refs"))
    assert reference, local("secret_refs")
    sample = re.sub(r"\$\{[^}]+\}", "x", reference.group(1))
    assert settings_source.SECRET_REFERENCE.fullmatch(sample), sample
    key_secret = re.sub(r"\$\{[^}]+\}", "x", local("encryption_key_secret"))
    assert config.ENCRYPTION_KEY_SECRET.parse(key_secret) == key_secret
    job = resource("google_cloud_run_v2_job", "mongodb")["template"][0]["template"][0]
    [uri] = [env for env in job["containers"][0]["env"] if env["name"] == "MONGODB_URI"]
    assert "value" not in uri
    assert uri["value_source"][0]["secret_key_ref"][0]["version"] == "latest"


def test_secrets_are_readable_only_by_the_accounts_that_use_them() -> None:
    """The MongoDB URI and the keys: the job only. Notification secrets: who sends reports."""
    for name in ("job_mongodb_uri", "job_encryption_key"):
        grant = resource("google_secret_manager_secret_iam_member", name)
        assert grant["member"] == '${google_service_account.runtime["mongodb-job"].member}', name
    accessors = module()["resource"]["google_secret_manager_secret_iam_member"]
    assert set(accessors) == {"job_mongodb_uri", "job_encryption_key", "notify"}
    notify_accounts = set(local("notify_accounts"))
    assert notify_accounts < set(local("runtime_accounts"))
    for account, set_names in local("env_sets_by_account").items():
        assert ("notify" in set_names) == (account in notify_accounts), account


def test_the_encryption_key_secret_cannot_be_destroyed_by_terraform() -> None:
    secret = resource("google_secret_manager_secret", "encryption_key")
    assert secret["lifecycle"][0]["prevent_destroy"] is True


# --- buckets and dead letters -------------------------------------------------------------


def test_buckets_are_private_versioned_and_logged() -> None:
    """The product's buckets (one resource, by role) log to the access-log sink."""
    resources = module()["resource"]["google_storage_bucket"]
    assert set(resources) == {"this", "access_logs"}
    for name, bucket in resources.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["versioning"][0]["enabled"] is True, name
        assert bucket["force_destroy"] is False, name
    buckets = resources["this"]
    assert buckets["for_each"] == "${local.buckets}"
    assert buckets["logging"][0]["log_bucket"] == "${google_storage_bucket.access_logs.name}"
    noncurrent = buckets["lifecycle_rule"][0]["condition"][0]
    assert noncurrent == {"days_since_noncurrent_time": "${each.value.noncurrent_version_days}"}
    [soft_delete] = [
        d["soft_delete_policy"] for d in buckets["dynamic"] if "soft_delete_policy" in d
    ]
    assert soft_delete["for_each"] == (
        "${each.value.soft_delete_days == null ? [] : [each.value.soft_delete_days]}"
    )
    roles = local("buckets")
    assert set(roles) == {"backups", "state", "function_source"}
    backups = roles["backups"]
    assert backups["soft_delete_days"] == "${var.soft_delete_retention_days}"
    assert backups["noncurrent_version_days"] == "${var.noncurrent_version_retention_days}"
    assert backups["cmek"] is True
    assert roles["state"]["cmek"] is True


def test_every_topic_dead_letters_into_a_kept_topic() -> None:
    push = resource("google_pubsub_subscription", "push")
    assert push["dead_letter_policy"][0]["dead_letter_topic"] == (
        "${google_pubsub_topic.dead_letter[each.value.topic].id}"
    )
    assert push["retry_policy"][0]["minimum_backoff"]
    assert push["expiration_policy"][0]["ttl"] == ""
    dead_letter_topics = resource("google_pubsub_topic", "dead_letter")
    kept = resource("google_pubsub_subscription", "dead_letter")
    assert dead_letter_topics["for_each"] == kept["for_each"] == "${toset(local.topics)}"
    assert kept["topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
    assert kept["expiration_policy"][0]["ttl"] == ""
    # The Pub/Sub service agent forwards dead letters: publisher on each
    # dead-letter topic, subscriber on each source subscription.
    publisher = resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    subscriber = resource("google_pubsub_subscription_iam_member", "dead_letter_subscriber")
    assert publisher["for_each"] == "${toset(local.topics)}"
    assert subscriber["for_each"] == "${local.functions}"
    assert publisher["member"] == subscriber["member"] == "${local.pubsub_agent}"
    for spec in functions().values():
        attempts = spec["max_delivery_attempts"]
        assert attempts == "${var.max_delivery_attempts}" or 5 <= attempts <= 100


def test_schedules_publish_the_backup_messages() -> None:
    schedules = local("schedules")
    topics = set(local("topics"))
    tiers = {}
    for name, job in schedules.items():
        assert job["topic"] in topics, name
        body = json.loads(job["message"])
        if job["topic"] == "dr-mongodb-backup":
            tiers[body["tier"]] = job["enabled"]
        elif job["topic"] == "dr-firestore-complete":
            assert body == {}
        else:
            assert body == {"tier": "daily"}, name
    assert tiers == {
        "hourly": "${var.enable_hourly}",
        "daily": True,
        "weekly": True,
        "monthly": True,
    }


# --- monitoring -----------------------------------------------------------------------------


def logged_report(
    caplog: pytest.LogCaptureFixture,
    target: str = "mongodb",
    operation: str = "daily backup",
    status: str = "succeeded",
) -> dict[str, Any]:
    """The JSON line the product writes when a run ends, as Cloud Logging's jsonPayload."""
    when = datetime(2025, 3, 25, 1, 0, tzinfo=UTC)
    report = RunReport(
        target=target,
        operation=operation,
        status=status,
        run_id="20250325T010000Z-ab12cd34",
        started=when,
        finished=when,
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="shared.reporting"):
        reporting.send(config.NotifySettings(), report)
    [record] = [r for r in caplog.records if r.name == "shared.reporting"]
    return dict(json.loads(logs.CloudLoggingFormatter().format(record)))


def matches(filter_text: str, payload: Mapping[str, Any]) -> bool:
    """Evaluate the filter's ``jsonPayload.a.b="v"`` and ``=~"regex"`` terms against a line."""
    terms = re.findall(r'jsonPayload\.([\w.]+)(=~|=)"([^"]*)"', filter_text)
    assert terms
    for path, operator, expected in terms:
        value: Any = payload
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if not isinstance(value, str):
            return False
        if not (re.search(expected, value) if operator == "=~" else value == expected):
            return False
    return True


def test_the_success_metric_counts_the_products_successful_backups(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = resource("google_logging_metric", "this")
    assert metrics["for_each"] == "${local.log_metrics}"
    assert metrics["filter"] == "${each.value.filter}"
    assert metrics["label_extractors"]["target"] == "${each.value.target_extractor}"
    metric = local("log_metrics")["dr_backup_succeeded"]
    assert matches(metric["filter"], logged_report(caplog))
    assert matches(metric["filter"], logged_report(caplog, target="gcs", operation="backup"))
    assert not matches(metric["filter"], logged_report(caplog, status="failed"))
    assert not matches(metric["filter"], logged_report(caplog, operation="restore"))
    extractor = metric["target_extractor"]
    path = re.fullmatch(r"EXTRACT\(jsonPayload\.([\w.]+)\)", extractor)
    assert path, extractor
    value: Any = logged_report(caplog, target="firestore")
    for part in path.group(1).split("."):
        value = value[part]
    assert value == "firestore"
    stale = resource("google_monitoring_alert_policy", "backup_stale")
    conditions = stale["dynamic"][0]["conditions"]
    assert conditions["for_each"] == "${local.backup_targets}"
    threshold = conditions["content"][0]["condition_threshold"][0]
    assert 'google_logging_metric.this["dr_backup_succeeded"].name' in threshold["filter"]
    assert set(local("backup_targets")) == {"gcs", "firestore", "mongodb"}
