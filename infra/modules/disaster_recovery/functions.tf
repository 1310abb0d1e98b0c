# The six Cloud Functions (2nd gen), all built from one source zip, and the
# settings each receives. Settings are the product's configuration keys
# (shared/config.py); a secret key holds a Secret Manager reference
# (projects/P/secrets/NAME/versions/latest) that the product resolves when it
# loads its settings, so no secret value passes through Terraform or the
# function's configuration. An empty value is left out: the product then uses
# its default. Values are built from names known at plan time, so a plan
# shows every setting (and the job's settings cannot depend on the job).

locals {
  # The one Python version of the product: the functions' runtime here, and
  # the base image of functions/mongodb_job/Dockerfile, the lint and type
  # targets and the test environment, which tests/test_infra.py holds to it.
  python_version   = "3.11"
  function_runtime = "python${replace(local.python_version, ".", "")}"

  env_sets = {
    common = {
      GOOGLE_CLOUD_PROJECT = var.project_id
    }
    notify = {
      NOTIFY_EMAIL   = join(",", var.notify_emails)
      NOTIFY_WEBHOOK = lookup(local.secret_refs, "notify_webhook", "")
      SMTP_HOST      = var.smtp_host
      SMTP_PORT      = tostring(var.smtp_port)
      SMTP_USERNAME  = var.smtp_username
      SMTP_PASSWORD  = lookup(local.secret_refs, "smtp_password", "")
      SMTP_FROM      = var.smtp_from
    }
    state = {
      DR_STATE_BUCKET = local.state_bucket_name
    }
    gcs = {
      GCS_PROJECT_ID     = local.gcs_project_id
      GCS_SOURCE_BUCKETS = join(",", var.gcs_source_buckets)
      GCS_BACKUP_BUCKET  = local.backup_bucket_name
      GCS_CRITICAL_FILES = join(",", var.gcs_critical_files)
      GCS_RETENTION_DAYS = tostring(var.gcs_retention_days)
      GCS_SHARD_SIZE     = tostring(var.gcs_shard_size)
      DR_GCS_SHARD_TOPIC = "projects/${var.project_id}/topics/dr-gcs-shards"
    }
    firestore = {
      FIRESTORE_PROJECT_ID     = local.firestore_project_id
      FIRESTORE_DATABASE       = var.firestore_database
      FIRESTORE_GCS_BUCKET     = local.backup_bucket_name
      FIRESTORE_COLLECTION_IDS = join(",", var.firestore_collection_ids)
      FIRESTORE_RETENTION_DAYS = tostring(var.firestore_retention_days)
    }
    # Where MongoDB backups are: the functions find them, the job writes them.
    mongodb = {
      MONGODB_GCS_BUCKET = local.backup_bucket_name
      MONGODB_BACKUP_DIR = var.mongodb_backup_dir
      ENABLE_HOURLY      = tostring(var.enable_hourly)
    }
    mongodb_trigger = {
      DR_MONGODB_JOB = local.mongodb_job_id
    }
    # The freshness check and the drills: how late is late, what to expect.
    watch = {
      DR_FRESHNESS_GRACE_MINUTES = tostring(var.freshness_grace_minutes)
      DR_DRILL_BUCKET            = local.backup_bucket_name
      DR_RESTORE_TOPIC           = "projects/${var.project_id}/topics/dr-restore"
      RPO_OBJECTIVE_MONGODB      = lookup(var.rpo_objectives, "mongodb", "")
      RPO_OBJECTIVE_FIRESTORE    = lookup(var.rpo_objectives, "firestore", "")
      RPO_OBJECTIVE_GCS          = lookup(var.rpo_objectives, "gcs", "")
      RTO_OBJECTIVE_MONGODB      = lookup(var.rto_objectives, "mongodb", "")
      RTO_OBJECTIVE_FIRESTORE    = lookup(var.rto_objectives, "firestore", "")
      RTO_OBJECTIVE_GCS          = lookup(var.rto_objectives, "gcs", "")
    }
    mongodb_job = {
      MONGODB_DB_NAME       = var.mongodb_db_name
      MONGODB_IS_ATLAS      = tostring(var.mongodb_is_atlas)
      RETENTION_DAILY       = tostring(var.mongodb_retention_daily)
      RETENTION_WEEKLY      = tostring(var.mongodb_retention_weekly)
      RETENTION_MONTHLY     = tostring(var.mongodb_retention_monthly)
      HOURLY_RETENTION      = tostring(var.mongodb_hourly_retention)
      ENCRYPTION_KEY_SECRET = local.encryption_key_secret
    }
  }

  # The settings each runtime account's code reads (iam.tf names the
  # accounts): a function gets those of its account, the job those of
  # mongodb-job (not mongodb_trigger: the job never starts itself).
  env_sets_by_account = {
    gcs         = ["common", "notify", "gcs"]
    firestore   = ["common", "notify", "state", "firestore"]
    mongodb     = ["common", "mongodb", "mongodb_trigger"]
    mongodb-job = ["common", "notify", "state", "mongodb", "mongodb_job"]
    restore     = ["common", "notify", "state", "gcs", "firestore", "mongodb", "mongodb_trigger"]
    watch       = ["common", "notify", "state", "gcs", "firestore", "mongodb", "watch"]
  }

  env_by_account = {
    for account, set_names in local.env_sets_by_account : account => {
      for key, value in merge([for name in set_names : local.env_sets[name]]...) :
      key => value if value != ""
    }
  }

  # Sizing of every function unless its entry below says otherwise.
  function_defaults = {
    memory                = "512Mi"
    max_instances         = 1
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Keyed by entry point (a function of functions/main.py); `account` names
  # the runtime service account, and with it the settings. The shard topic
  # allows the most deliveries: when every instance is busy a push is
  # refused, and that refusal counts as a delivery attempt.
  function_specs = {
    gcs_backup = {
      name        = "dr-gcs-backup"
      description = "Lists the source buckets and fans the copy out in shards."
      topic       = "dr-gcs-backup"
      account     = "gcs"
    }
    gcs_copy_shard = {
      name                  = "dr-gcs-copy-shard"
      description           = "Copies one shard of objects server-side; the last shard completes the snapshot."
      topic                 = "dr-gcs-shards"
      account               = "gcs"
      memory                = "1Gi"
      max_instances         = 10
      max_delivery_attempts = 100
    }
    mongodb_backup = {
      name        = "dr-mongodb-backup"
      description = "Starts an execution of the MongoDB backup job."
      topic       = "dr-mongodb-backup"
      account     = "mongodb"
    }
    firestore_backup = {
      name        = "dr-firestore-backup"
      description = "Starts a Firestore managed export and records it as pending."
      topic       = "dr-firestore-backup"
      account     = "firestore"
    }
    firestore_complete = {
      name        = "dr-firestore-complete"
      description = "Finalizes finished Firestore exports and imports."
      topic       = "dr-firestore-complete"
      account     = "firestore"
    }
    dr_restore = {
      name          = "dr-restore"
      description   = "Validates a restore request and hands it to the target's restore."
      topic         = "dr-restore"
      account       = "restore"
      memory        = "1Gi"
      max_instances = 2
    }
    dr_freshness = {
      name        = "dr-freshness"
      description = "Missed-backup check: one notification per incident and one on recovery."
      topic       = "dr-freshness"
      account     = "watch"
    }
    dr_drill = {
      name        = "dr-drill"
      description = "Recovery drills: test restores of every target, RPO and RTO, a report."
      topic       = "dr-drill"
      account     = "watch"
      memory      = "1Gi"
    }
  }

  functions = { for entry_point, spec in local.function_specs : entry_point => merge(local.function_defaults, spec) }
}

resource "google_cloudfunctions2_function" "this" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime           = local.function_runtime
    entry_point       = each.key
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.images.id

    source {
      storage_source {
        bucket = google_storage_bucket_object.function_source.bucket
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = "1"
    timeout_seconds                  = var.function_timeout_seconds
    min_instance_count               = 0
    max_instance_count               = lookup(var.function_max_instances, each.key, each.value.max_instances)
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.runtime[each.value.account].email

    environment_variables = local.env_by_account[each.value.account]
  }

  depends_on = [
    google_project_service.this,
    google_pubsub_topic.this,
    google_cloud_run_v2_job.mongodb,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}

# Pub/Sub's push requests carry an OIDC token of the invoker account, which
# may invoke exactly these functions' services.
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}
