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
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from shared import config, logs, registry, reporting, settings_source
from shared.config import BACKUP_BUCKETS
from shared.console.session import TOPICS
from shared.manifest import MANIFEST_NAME, TARGETS
from shared.notify import RunReport
from shared.restore import schema
from tests.hcl_expressions import evaluate

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
            "mongodb_job_image_tag",
            ["current", "v1.2.3", "2025-03-25_a1b2c3d"],
            ["", ".hidden", "-x", "a:b", "a@sha256", "x" * 129],
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


def test_drills_and_the_freshness_check_are_scheduled_onto_their_functions() -> None:
    """The quarterly drill, its follow-up and the hourly freshness check reach their handlers."""
    schedules = local("schedules")
    specs = functions()
    by_topic = {spec["topic"]: entry_point for entry_point, spec in specs.items()}
    assert by_topic[schedules["freshness"]["topic"]] == "dr_freshness"
    assert by_topic[schedules["drill"]["topic"]] == "dr_drill"
    assert by_topic[schedules["drill-advance"]["topic"]] == "dr_drill"
    assert specs["dr_drill"]["account"] == specs["dr_freshness"]["account"] == "watch"
    assert module()["variable"]["drill_schedule"]["default"] == "0 9 1 1,4,7,10 *"  # quarterly
    publisher = resource("google_pubsub_topic_iam_member", "drill_restore_publisher")
    assert publisher["topic"] == '${google_pubsub_topic.this["dr-restore"].name}'
    assert publisher["member"] == '${google_service_account.runtime["watch"].member}'
    for env in ENVIRONMENTS:
        call = parsed(INFRA / "environments" / env)["module"]["disaster_recovery"]
        assert call["drill_schedule"], env
        targets = set(TARGETS)
        assert set(call["rpo_objectives"]) == set(call["rto_objectives"]) == targets, env


def test_schedules_publish_the_backup_messages() -> None:
    schedules = local("schedules")
    topics = set(local("topics"))
    tiers = {}
    for name, job in schedules.items():
        assert job["topic"] in topics, name
        body = json.loads(job["message"])
        if job["topic"] == "dr-mongodb-backup":
            tiers[body["tier"]] = job["enabled"]
        elif job["topic"] in ("dr-firestore-complete", "dr-freshness"):
            assert body == {}, name
        elif job["topic"] == "dr-drill":
            assert body == ({"action": "start"} if name == "drill" else {}), name
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
    assert set(local("backup_targets")) == set(TARGETS)


# --- first deployment ------------------------------------------------------------------------

README = INFRA / "README.md"
CLOUD_BUILD = REPO / "functions" / "mongodb_job" / "cloudbuild.yaml"
DOCKERFILE = REPO / "functions" / "mongodb_job" / "Dockerfile"


def example(env: str) -> dict[str, Any]:
    with (INFRA / "environments" / env / "terraform.tfvars.example").open(encoding="utf-8") as f:
        return dict(hcl2.load(f, serialization_options=_OPTIONS))


def passes_validation(name: str, value: Any) -> bool:
    """Whether every validation rule of module input ``name`` accepts ``value``."""
    rules = module()["variable"][name].get("validation", [])
    return all(evaluate(rule["condition"], {name: value}) is True for rule in rules)


def test_every_default_passes_its_own_validation() -> None:
    for name, spec in module()["variable"].items():
        if "default" in spec:
            assert passes_validation(name, spec["default"]), name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("project_id", "Eyewear"),
        ("gcs_source_buckets", []),
        ("gcs_source_buckets", ["eyewearml-assets", "no spaces"]),
        ("labels", {"Team": "dr"}),
        ("function_max_instances", {"gcs_copy_shard": 0}),
        ("mongodb_egress_subnet_cidr", "10.8.0.0/28"),
        ("operators_group", "dr-operators"),
        ("mongodb_job_image_tag", "mongodb-job@sha256:<digest>"),
    ],
)
def test_the_validation_evaluator_rejects_what_terraform_rejects(name: str, value: Any) -> None:
    assert not passes_validation(name, value)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_example_variables_pass_their_validation(env: str) -> None:
    """Every value of terraform.tfvars.example, against the rules of the module input it feeds."""
    values = example(env)
    call = parsed(INFRA / "environments" / env)["module"]["disaster_recovery"]
    for name, value in values.items():
        assert call[name] == f"${{var.{name}}}", f"{env}: {name} feeds no module input of its name"
        assert passes_validation(name, value), f"{env}: the example's {name} = {value!r} fails"
        assert "<" not in json.dumps(value), f"{env}: {name} is a placeholder, not a value"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_terraform_itself_accepts_the_example_variables(env: str, tmp_path: Path) -> None:
    """Where a terraform binary is at hand: the module's variables alone need no provider."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary on PATH (the nox terraform session installs one)")
    shutil.copy(MODULE / "variables.tf", tmp_path)
    directory = INFRA / "environments" / env
    literals = {"environment": env, "function_source_zip": "functions-source.zip"}
    tfvars = (directory / "terraform.tfvars.example").read_text(encoding="utf-8")
    tfvars += "".join(f'{name} = "{value}"\n' for name, value in literals.items())
    (tmp_path / "terraform.tfvars").write_text(tfvars, encoding="utf-8")
    for command in (["init", "-input=false"], ["plan", "-input=false", "-no-color"]):
        run = subprocess.run(
            [terraform, *command], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_projects_are_inputs_of_their_own(env: str) -> None:
    """The guide's data lives in eyewearml-project; nothing defaults it to the DR project."""
    variables = module()["variable"]
    for name in ("firestore_project_id", "gcs_project_id"):
        assert "default" not in variables[name], f"{name} must be given, never defaulted"
        assert "default" not in parsed(INFRA / "environments" / env)["variable"][name]
        assert local(name) == f"${{var.{name}}}"
    values = example(env)
    assert values["firestore_project_id"] == values["gcs_project_id"] == "eyewearml-project"
    assert values["project_id"] != values["firestore_project_id"]
    firestore_project = "${local.firestore_project_id}"
    assert module()["data"]["google_project"]["firestore"]["project_id"] == firestore_project
    assert "data.google_project.firestore.number" in local("firestore_agent")
    agent = resource("google_storage_bucket_iam_member", "firestore_agent")
    assert agent["bucket"] == '${google_storage_bucket.this["backups"].name}'
    assert agent["member"] == "${local.firestore_agent}"
    for name in ("firestore_import_export", "firestore_scratch", "firestore_scratch_delete"):
        assert resource("google_project_iam_member", name)["project"] == firestore_project, name
    for name in ("firestore_scratch", "firestore_scratch_delete", "restore_buckets"):
        role = resource("google_project_iam_custom_role", name)
        assert role["project"] in {firestore_project, "${local.gcs_project_id}"}, name


def test_the_mongodb_job_account_needs_nothing_in_the_data_projects() -> None:
    """MongoDB is reached over the network; the job's grants are all on the DR project's own."""
    member = '${google_service_account.runtime["mongodb-job"].member}'
    grants = [
        (rtype, name, spec)
        for rtype, named in module()["resource"].items()
        for name, spec in named.items()
        if spec.get("member") == member or "mongodb-job" in json.dumps(spec.get("for_each", ""))
    ]
    assert grants
    for rtype, name, spec in grants:
        text = json.dumps(spec)
        for other in ("firestore_project_id", "gcs_project_id", "gcs_source_buckets"):
            assert other not in text, f"{rtype}.{name} reaches into the data project"


def test_only_test_restore_scratch_databases_may_be_deleted() -> None:
    """Deleting a database is granted on the names test restores give their scratch copies."""
    prefix = local("firestore_scratch_prefix")
    restore_source = (REPO / "shared" / "firestore" / "restore.py").read_text(encoding="utf-8")
    assert f'f"{prefix}{{now:' in restore_source, "the scratch database prefix changed"
    role = resource("google_project_iam_custom_role", "firestore_scratch_delete")
    assert role["permissions"] == ["datastore.databases.delete"]
    grant = resource("google_project_iam_member", "firestore_scratch_delete")
    assert grant["member"] == '${google_service_account.runtime["firestore"].member}'
    expression = grant["condition"][0]["expression"]
    assert "resource.name.startsWith(" in expression
    assert "/databases/${local.firestore_scratch_prefix}" in expression
    scratch = resource("google_project_iam_custom_role", "firestore_scratch")
    assert not [p for p in scratch["permissions"] if p.endswith(".delete")]


def readme_targets() -> list[str]:
    return re.findall(r"-target=module\.disaster_recovery\.([\w.]+)", README.read_text("utf-8"))


def test_first_apply_targets_what_the_image_build_needs_and_not_the_job() -> None:
    """Phase one of a first deployment: everything the image build uses, nothing that needs it."""
    targets = readme_targets()
    resources = module()["resource"]
    for address in targets:
        rtype, name = address.split(".")
        assert name in resources.get(rtype, {}), f"README targets a missing resource {address}"
        text = json.dumps(resources[rtype][name])
        assert "google_cloud_run_v2_job" not in text, address
        assert "google_artifact_registry_docker_image" not in text, address
    build_grants = {
        f"{rtype}.{name}"
        for rtype, named in resources.items()
        for name, spec in named.items()
        if spec.get("member") == "${google_service_account.build.member}"
    }
    needed = {"google_artifact_registry_repository.images", *build_grants}
    assert needed <= set(targets), f"phase one misses {sorted(needed - set(targets))}"
    secrets = {"google_secret_manager_secret.this", "google_secret_manager_secret.encryption_key"}
    assert secrets <= set(targets), "the secrets get their values before the job first runs"


def test_the_job_runs_the_image_the_cloud_build_config_pushes() -> None:
    build = CLOUD_BUILD.read_text(encoding="utf-8")
    [pushed] = re.findall(r"^images:\n  - (\S+)$", build, flags=re.MULTILINE)
    image_name = local("mongodb_job_image_name")
    assert pushed == f"${{_REPOSITORY}}/{image_name}:${{_TAG}}"
    [default_tag] = re.findall(r"^  _TAG: (\S+)$", build, flags=re.MULTILINE)
    assert module()["variable"]["mongodb_job_image_tag"]["default"] == default_tag
    for env in ENVIRONMENTS:
        assert (
            parsed(INFRA / "environments" / env)["variable"]["mongodb_job_image_tag"]["default"]
            == default_tag
        )
    image = module()["data"]["google_artifact_registry_docker_image"]["mongodb_job"]
    assert image["repository_id"] == ("${google_artifact_registry_repository.images.repository_id}")
    assert image["image_name"] == "${local.mongodb_job_image_name}:${var.mongodb_job_image_tag}"
    job = resource("google_cloud_run_v2_job", "mongodb")["template"][0]["template"][0]
    assert job["containers"][0]["image"] == (
        "${data.google_artifact_registry_docker_image.mongodb_job.self_link}"
    )
    assert f"--file={DOCKERFILE.relative_to(REPO)}" in build


def test_readme_build_command_names_the_modules_build_account_repository_and_bucket() -> None:
    text = README.read_text(encoding="utf-8")
    [command] = re.findall(r"gcloud builds submit .*?(?=\n\s*```)", text, flags=re.DOTALL)
    command = command.replace('"', "")
    account = resource("google_service_account", "build")["account_id"]
    repository = resource("google_artifact_registry_repository", "images")["repository_id"]
    [source_bucket] = re.findall(
        r"\$\{var\.project_id\}(-[a-z-]+)", local("function_source_bucket_name")
    )
    assert f"--config={CLOUD_BUILD.relative_to(REPO)}" in command
    assert f"--service-account=projects/$P/serviceAccounts/{account}@$P." in command
    assert f"_REPOSITORY=$R-docker.pkg.dev/$P/{repository}" in command
    assert f"--gcs-source-staging-dir=gs://$P{source_bucket}/" in command


def stage_script() -> str:
    """The Cloud Build step's script (the block after ``- |``), as the step's bash receives it."""
    lines = CLOUD_BUILD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- |") + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = []
    for line in lines[start:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        block.append(line[indent:])
    script = "\n".join(block)
    return script.replace("${_REPOSITORY}", "us-central1-docker.pkg.dev/p/eyewearml-dr")


def test_cloud_build_stages_exactly_what_the_image_copies(tmp_path: Path) -> None:
    """The context is the same whether or not the builder applies Dockerfile.dockerignore."""
    shutil.copy(REPO / "requirements.txt", tmp_path)
    shutil.copytree(REPO / "shared", tmp_path / "shared")
    (tmp_path / "shared" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "shared" / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "big.bin").write_bytes(b"x")
    subprocess.run(["bash", "-ceu", stage_script()], cwd=tmp_path, check=True)
    context = tmp_path / ".image-context"
    staged = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}
    expected = {"requirements.txt"} | {
        str(p.relative_to(REPO))
        for p in (REPO / "shared").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert staged == expected
    copied = re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert copied == ["requirements.txt", "shared/"]
    for source in copied:
        assert (context / source).exists(), source


def test_cloud_build_without_a_repository_fails_with_a_clear_message(tmp_path: Path) -> None:
    script = stage_script().replace("us-central1-docker.pkg.dev/p/eyewearml-dr", "")
    run = subprocess.run(
        ["bash", "-ceu", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 64
    assert "set _REPOSITORY" in run.stderr


def test_one_python_version_for_functions_job_and_checks() -> None:
    """Pinned once (the module's local.python_version); everything else is held to it."""
    version = local("python_version")
    assert re.fullmatch(r"3\.\d+", version)
    assert local("function_runtime") == 'python${replace(local.python_version, ".", "")}'
    build = resource("google_cloudfunctions2_function", "this")["build_config"][0]
    assert build["runtime"] == "${local.function_runtime}"
    assert "function_runtime" not in module()["variable"], "a runtime input could diverge"
    [base] = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert base.startswith(f"python:{version}-"), base
    compact = version.replace(".", "")
    assert f'target-version = "py{compact}"' in (REPO / ".ruff.toml").read_text("utf-8")
    assert f"python_version = {version}\n" in (REPO / ".mypy.ini").read_text("utf-8")
    assert f"Python {version}," in (REPO / "README.md").read_text("utf-8")
    noxfile = (REPO / "noxfile.py").read_text(encoding="utf-8")
    assert set(re.findall(r"python=\W*(3\.\d+)", noxfile)) <= {version}, "nox names another"


# --- MongoDB egress, operators, audit, missed backups -------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_static_egress_ip_is_an_input_off_by_default_with_an_output(env: str) -> None:
    root = parsed(INFRA / "environments" / env)
    assert module()["variable"]["mongodb_static_egress_ip"]["default"] is False
    assert root["variable"]["mongodb_static_egress_ip"]["default"] is False
    assert root["output"]["mongodb_egress_ip"]["value"] == (
        "${module.disaster_recovery.mongodb_egress_ip}"
    )
    assert "google_compute_address.egress" in module()["output"]["mongodb_egress_ip"]["value"]


def test_static_egress_goes_through_cloud_nat_on_the_reserved_address() -> None:
    assert local("egress") == (
        "${var.mongodb_static_egress_ip ? toset([local.egress_name]) : toset([])}"
    )
    for rtype in (
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_address",
        "google_compute_router",
        "google_compute_router_nat",
    ):
        assert resource(rtype, "egress")["for_each"] == "${local.egress}", rtype
    firewall = resource("google_compute_firewall", "egress_deny_ingress")
    assert firewall["for_each"] == "${local.egress}"
    assert (firewall["direction"], firewall["deny"]) == ("INGRESS", [{"protocol": "all"}])
    assert "allow" not in firewall
    assert resource("google_compute_address", "egress")["address_type"] == "EXTERNAL"
    nat = resource("google_compute_router_nat", "egress")
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == ["${google_compute_address.egress[each.key].self_link}"]
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetwork"][0]["name"] == "${google_compute_subnetwork.egress[each.key].id}"
    access = local("mongodb_vpc_access")
    assert access.startswith("${var.mongodb_static_egress_ip ? [{")
    static, connector = access.split(": var.mongodb_vpc_connector", 1)
    assert '"ALL_TRAFFIC"' in static
    assert "google_compute_subnetwork.egress" in static
    assert "var.mongodb_vpc_egress" in connector
    job = resource("google_cloud_run_v2_job", "mongodb")["template"][0]["template"][0]
    [vpc] = [d["vpc_access"] for d in job["dynamic"] if "vpc_access" in d]
    assert vpc["for_each"] == "${local.mongodb_vpc_access}"
    assert "mongodb_static_egress_ip" in module()["locals"]["services"]


OPERATOR_ROLES = {
    "roles/pubsub.publisher",
    "roles/storage.legacyBucketReader",
    "roles/storage.objectViewer",
    "roles/run.viewer",
    "roles/logging.viewer",
    "${google_project_iam_custom_role.run_execution_reader.name}",
}


def operator_grants() -> dict[str, dict[str, Any]]:
    """Every IAM grant whose member is the operators' group, by resource address."""
    grants = {}
    for rtype, named in module()["resource"].items():
        for name, spec in named.items():
            if name.startswith("operators"):
                grants[f"{rtype}.{name}"] = spec
            else:
                assert "operators" not in json.dumps(spec.get("member", "")), name
    return grants


def test_operators_may_request_and_read_but_never_delete_or_overwrite() -> None:
    grants = operator_grants()
    roles = set()
    for address, spec in grants.items():
        assert "local.operator" in spec["for_each"], address
        if address.endswith("operators_backup_catalog"):
            roles |= set(local("operator_backup_bucket_roles"))
        else:
            roles.add(spec["role"])
    assert roles == OPERATOR_ROLES
    executions = resource("google_project_iam_custom_role", "run_execution_reader")
    assert all(p.split(".")[-1] in {"get", "list"} for p in executions["permissions"]), executions[
        "permissions"
    ]
    # Publish: restores and the manual backups `dr` sends.
    assert set(local("operator_topics")) == set(TOPICS.values())
    publish = resource("google_pubsub_topic_iam_member", "operators_publish")
    assert publish["topic"] == "${google_pubsub_topic.this[each.key].name}"
    # The backup bucket: list it, read manifests, not backup data.
    conditioned = local("operator_backup_bucket_roles")
    assert conditioned["roles/storage.legacyBucketReader"] is None
    assert conditioned["roles/storage.objectViewer"] == (
        f'resource.name.endsWith("/{MANIFEST_NAME}")'
    )
    catalog = resource("google_storage_bucket_iam_member", "operators_backup_catalog")
    assert catalog["bucket"] == '${google_storage_bucket.this["backups"].name}'
    state = resource("google_storage_bucket_iam_member", "operators_state")
    assert state["bucket"] == '${google_storage_bucket.this["state"].name}'
    job = resource("google_cloud_run_v2_job_iam_member", "operators_viewer")
    assert job["name"] == "${google_cloud_run_v2_job.mongodb.name}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_passes_the_operators_group(env: str) -> None:
    root = parsed(INFRA / "environments" / env)
    assert root["module"]["disaster_recovery"]["operators_group"] == "${var.operators_group}"
    assert root["variable"]["operators_group"]["default"] == ""
    assert module()["variable"]["operators_group"]["default"] == ""
    assert local("operators") == (
        '${var.operators_group != "" ? toset(["group:${var.operators_group}"]) : toset([])}'
    )


def test_storage_data_access_is_audited_for_the_dr_buckets() -> None:
    audit = resource("google_project_iam_audit_config", "storage")
    assert audit["project"] == "${var.project_id}"
    assert audit["service"] == "storage.googleapis.com"
    [logs_config] = [d["audit_log_config"] for d in audit["dynamic"] if "audit_log_config" in d]
    types = logs_config["for_each"]
    for log_type in ("DATA_READ", "DATA_WRITE"):
        assert f'"{log_type}"' in types
    assert "exempted_members" not in json.dumps(logs_config), "the product's accounts are audited"
    # Audit logging is per project: the buckets it must cover are the DR project's.
    for role in ("backups", "state"):
        assert resource("google_storage_bucket", "this")["project"] == audit["project"], role
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [query] = re.findall(r"```\n(logName=.*?)```", readme, flags=re.DOTALL)
    assert '/logs/cloudaudit.googleapis.com%2Fdata_access"' in query
    assert 'protoPayload.serviceName="storage.googleapis.com"' in query
    for suffix in ("-dr-backups", "-dr-state"):
        assert suffix in query


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_missed_backups_alert_even_when_the_functions_are_down(env: str) -> None:
    """No success line at all in the window fires the alert: an absent function logs nothing."""
    root = parsed(INFRA / "environments" / env)
    assert root["module"]["disaster_recovery"]["alert_emails"] == "${var.alert_emails}"
    assert example(env)["alert_emails"]
    stale = resource("google_monitoring_alert_policy", "backup_stale")
    assert stale["notification_channels"] == "${local.alert_channels}"
    conditions = stale["dynamic"][0]["conditions"]
    threshold = conditions["content"][0]["condition_threshold"][0]
    assert threshold["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_ACTIVE"
    assert threshold["comparison"] == "COMPARISON_LT"
    assert threshold["threshold_value"] == 1
    assert 'metric.label.target=\\"${conditions.key}\\"' in json.dumps(threshold["filter"])
    assert set(local("backup_targets")) == set(TARGETS)


def deploy_steps() -> list[str]:
    """The numbered steps of infra/README.md's "Deploying" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Deploying\n", 1)[1].split("\n### ", 1)[0]
    steps = re.split(r"\n(?=\d+\. \*\*)", section)[1:]
    numbers = [int(step.split(".", 1)[0]) for step in steps]
    assert numbers == list(range(1, len(steps) + 1))
    return steps


def test_deploy_steps_end_with_a_first_backup_of_each_target_and_a_first_drill() -> None:
    *_, backups, drill = deploy_steps()
    targets = set(BACKUP_BUCKETS)
    assert set(re.findall(r"python -m shared\.cli backup (\w+)", backups)) == targets
    for key in (bucket.name for bucket in BACKUP_BUCKETS.values()):
        assert f"{key}=" in backups, f"the first backup step leaves {key} unset"
    messages = re.findall(r"topics publish dr-restore .*--message=\"(\{.*\})\"", drill)
    shell = {'\\"': '"', "$D": "2025-03-25", "$B": "eyewearml-assets"}
    requests = []
    for message in messages:
        body = message
        for variable, value in shell.items():
            body = body.replace(variable, value)
        requests.append(json.loads(body))
    assert {request["target"] for request in requests} == targets
    for request in requests:
        assert request["test_mode"] is True
        schema.validate(request, registry.shapes())
