# Buckets: backups (all three targets, each under its own prefix), restore
# state, function source, and the access-log sink. All of them: uniform
# bucket-level access, public access prevention, versioning.
#
# The product prunes backups by its own retention policy. The lifecycle rules
# here are only a safety net behind it: a pruned or overwritten object stays
# recoverable as a noncurrent version for noncurrent_version_retention_days,
# and then, in the backup bucket, for soft_delete_retention_days more.

locals {
  backup_bucket_name          = coalesce(var.backup_bucket_name, "${var.project_id}-dr-backups")
  state_bucket_name           = coalesce(var.state_bucket_name, "${var.project_id}-dr-state")
  function_source_bucket_name = coalesce(var.function_source_bucket_name, "${var.project_id}-dr-function-source")
  access_log_bucket_name      = coalesce(var.access_log_bucket_name, "${var.project_id}-dr-access-logs")

  bucket_kms_keys = var.bucket_kms_key_name != "" ? [var.bucket_kms_key_name] : []

  # The buckets the product uses, by role (the role, hyphenated, is also the
  # prefix of its access logs). `soft_delete_days` null keeps Cloud Storage's
  # default window. `cmek`: encrypted with bucket_kms_key_name when it is set;
  # not the function-source bucket, which sits in the functions' region while
  # the key must be in bucket_location, and holds only the source zips.
  buckets = {
    backups = {
      name                    = local.backup_bucket_name
      location                = var.bucket_location
      noncurrent_version_days = var.noncurrent_version_retention_days
      soft_delete_days        = var.soft_delete_retention_days
      cmek                    = true
    }
    state = {
      name                    = local.state_bucket_name
      location                = var.bucket_location
      noncurrent_version_days = var.noncurrent_version_retention_days
      soft_delete_days        = null
      cmek                    = true
    }
    function_source = {
      name                    = local.function_source_bucket_name
      location                = var.region
      noncurrent_version_days = 30
      soft_delete_days        = null
      cmek                    = false
    }
  }
}

resource "google_storage_bucket" "this" {
  for_each = local.buckets

  project                     = var.project_id
  name                        = each.value.name
  location                    = each.value.location
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  dynamic "soft_delete_policy" {
    for_each = each.value.soft_delete_days == null ? [] : [each.value.soft_delete_days]
    content {
      retention_duration_seconds = soft_delete_policy.value * 86400
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = each.value.noncurrent_version_days
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket        = google_storage_bucket.access_logs.name
    log_object_prefix = replace(each.key, "_", "-")
  }

  dynamic "encryption" {
    for_each = each.value.cmek ? local.bucket_kms_keys : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.storage_agent]
}

# The sink of the others' access logs: a resource of its own, since a bucket
# cannot log into itself and the others refer to it.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:This bucket is the access-log sink of the others; logging it into itself would log its own log writes.
  project                     = var.project_id
  name                        = local.access_log_bucket_name
  location                    = var.bucket_location
  labels                      = local.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.access_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.bucket_kms_keys
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.storage_agent]
}

# Named by content: a new zip is a new object, which redeploys every function;
# the same zip is the same object, so an unchanged source deploys nothing.
resource "google_storage_bucket_object" "function_source" {
  bucket       = google_storage_bucket.this["function_source"].name
  name         = "functions/${filesha256(var.function_source_zip)}.zip"
  source       = var.function_source_zip
  content_type = "application/zip"
}
