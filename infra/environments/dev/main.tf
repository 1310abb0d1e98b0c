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

  deletion_protection = false

  project_id               = var.project_id
  region                   = var.region
  bucket_location          = var.bucket_location
  firestore_project_id     = var.firestore_project_id
  firestore_collection_ids = var.firestore_collection_ids
  gcs_source_buckets       = var.gcs_source_buckets
  gcs_critical_files       = var.gcs_critical_files
  mongodb_db_name          = var.mongodb_db_name
  mongodb_is_atlas         = var.mongodb_is_atlas
  mongodb_job_image        = var.mongodb_job_image
  mongodb_vpc_connector    = var.mongodb_vpc_connector
  function_source_zip      = var.function_source_zip
  notify_emails            = var.notify_emails
  enable_notify_webhook    = var.enable_notify_webhook
  smtp_host                = var.smtp_host
  smtp_port                = var.smtp_port
  smtp_username            = var.smtp_username
  smtp_from                = var.smtp_from
  alert_emails             = var.alert_emails
  bucket_kms_key_name      = var.bucket_kms_key_name
  pubsub_kms_key_name      = var.pubsub_kms_key_name
}
