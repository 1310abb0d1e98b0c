# The production environment: the guide's retention (30 daily, 12 weekly,
# 12 monthly MongoDB backups, 24 hourly ones; 30 days of Firestore, 90 of
# Cloud Storage), a month of noncurrent versions and soft delete behind the
# product's own pruning, and the job protected against `terraform destroy`.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "disaster_recovery" {
  source = "../../modules/disaster_recovery"

  environment = "prod"

  gcs_retention_days                = 90
  firestore_retention_days          = 30
  mongodb_retention_daily           = 30
  mongodb_retention_weekly          = 12
  mongodb_retention_monthly         = 12
  enable_hourly                     = true
  mongodb_hourly_retention          = 24
  noncurrent_version_retention_days = 30
  soft_delete_retention_days        = 30

  # The guide's platform: its database and the files a backup must contain.
  mongodb_db_name = "eyewear_ml"
  gcs_critical_files = [
    "models/face-analysis-v2.0/model.pb",
    "config/production.json",
  ]

  deletion_protection = true

  function_max_instances = {
    gcs_copy_shard = 20
  }

  # Recovery drills (quarterly, as the guide asks) and the objectives they measure against.
  drill_schedule = "0 9 1 1,4,7,10 *"
  rpo_objectives = { mongodb = "2h", firestore = "27h", gcs = "27h" }
  rto_objectives = { mongodb = "4h", firestore = "4h", gcs = "4h" }

  # Written by functions/package.py, relative to this directory.
  function_source_zip = "../../../dist/functions-source.zip"

  project_id               = var.project_id
  region                   = var.region
  bucket_location          = var.bucket_location
  firestore_project_id     = var.firestore_project_id
  gcs_project_id           = var.gcs_project_id
  gcs_source_buckets       = var.gcs_source_buckets
  mongodb_job_image_tag    = var.mongodb_job_image_tag
  mongodb_static_egress_ip = var.mongodb_static_egress_ip
  operators_group          = var.operators_group
  notify_emails            = var.notify_emails
  smtp_host                = var.smtp_host
  smtp_from                = var.smtp_from
  alert_emails             = var.alert_emails
}
