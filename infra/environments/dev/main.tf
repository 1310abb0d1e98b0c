# The development environment: the whole system, with short retention so
# that restore drills and experiments stay cheap, and nothing protected
# against `terraform destroy` except the encryption-key secret.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "disaster_recovery" {
  source = "../../modules/disaster_recovery"

  environment = "dev"

  # Retention: a week or so of everything.
  gcs_retention_days                = 7
  firestore_retention_days          = 7
  mongodb_retention_daily           = 7
  mongodb_retention_weekly          = 4
  mongodb_retention_monthly         = 2
  enable_hourly                     = false
  noncurrent_version_retention_days = 7
  soft_delete_retention_days        = 7

  # The guide's platform: its database and the files a backup must contain.
  mongodb_db_name = "eyewear_ml"
  gcs_critical_files = [
    "models/face-analysis-v2.0/model.pb",
    "config/production.json",
  ]

  deletion_protection = false

  # Recovery drills (monthly: dev tries changes to the restore path first) and the objectives they measure against.
  drill_schedule = "0 9 1 * *"
  rpo_objectives = { mongodb = "26h", firestore = "27h", gcs = "27h" }
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
