# The operators' group (operators_group): what the people who run the system
# need from `python -m shared.cli` and the console, and nothing that deletes
# or overwrites.
#
# * Request restores and manual backups: publish to dr-restore and to the
#   backup topics. Every change then goes through the functions, which take
#   the restore lock, enforce the safety rules (confirm, test mode) and keep
#   the status record; that is why operators do not run the MongoDB job with
#   overrides themselves.
# * Read the catalog: list the backup bucket and read its manifests (not the
#   backup data itself), read the state bucket (restore status records).
# * Follow runs: the MongoDB job and its executions, and the logs.

locals {
  operators = var.operators_group != "" ? toset(["group:${var.operators_group}"]) : toset([])

  operator_topics = ["dr-restore", "dr-gcs-backup", "dr-mongodb-backup", "dr-firestore-backup"]

  operator_topic_grants = {
    for pair in setproduct(local.operator_topics, local.operators) : pair[0] => pair[1]
  }

  # Role on the backup bucket => the condition limiting it (null: none).
  operator_backup_bucket_roles = {
    "roles/storage.legacyBucketReader" = null # list objects, read bucket metadata
    "roles/storage.objectViewer"       = "resource.name.endsWith(\"/manifest.json\")"
  }
}

resource "google_pubsub_topic_iam_member" "operators_publish" {
  for_each = local.operator_topic_grants

  project = var.project_id
  topic   = google_pubsub_topic.this[each.key].name
  role    = "roles/pubsub.publisher"
  member  = each.value
}

resource "google_storage_bucket_iam_member" "operators_backup_catalog" {
  for_each = { for pair in setproduct(keys(local.operator_backup_bucket_roles), local.operators) : pair[0] => pair[1] }

  bucket = google_storage_bucket.this["backups"].name
  role   = each.key
  member = each.value

  dynamic "condition" {
    for_each = local.operator_backup_bucket_roles[each.key] == null ? [] : [local.operator_backup_bucket_roles[each.key]]
    content {
      title       = "manifests only"
      description = "Backup manifests, not the backup data."
      expression  = condition.value
    }
  }
}

resource "google_storage_bucket_iam_member" "operators_state" {
  for_each = local.operators

  bucket = google_storage_bucket.this["state"].name
  role   = "roles/storage.objectViewer"
  member = each.key
}

resource "google_cloud_run_v2_job_iam_member" "operators_viewer" {
  for_each = local.operators

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.mongodb.name
  role     = "roles/run.viewer"
  member   = each.key
}

resource "google_project_iam_member" "operators_run_execution_reader" {
  for_each = local.operators

  project = var.project_id
  role    = google_project_iam_custom_role.run_execution_reader.name
  member  = each.key
}

resource "google_project_iam_member" "operators_log_viewer" {
  for_each = local.operators

  project = var.project_id
  role    = "roles/logging.viewer"
  member  = each.key
}
