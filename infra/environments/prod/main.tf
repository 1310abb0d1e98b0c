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

  deletion_protection = true

  function_max_instances = {
    gcs_copy_shard = 20
  }

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
