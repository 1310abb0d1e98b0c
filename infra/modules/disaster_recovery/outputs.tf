output "topics" {
  description = "Trigger topics by name => full resource name (projects/P/topics/T)."
  value       = { for name, topic in google_pubsub_topic.this : name => topic.id }
}

output "dead_letter_topics" {
  description = "Dead-letter topic of each trigger topic => full resource name."
  value       = { for name, topic in google_pubsub_topic.dead_letter : name => topic.id }
}

output "dead_letter_subscriptions" {
  description = "Pull subscription that keeps each trigger topic's dead letters."
  value       = { for name, subscription in google_pubsub_subscription.dead_letter : name => subscription.name }
}

output "backup_bucket" {
  description = "Bucket of every backup (GCS_BACKUP_BUCKET, FIRESTORE_GCS_BUCKET, MONGODB_GCS_BUCKET)."
  value       = google_storage_bucket.this["backups"].name
}

output "state_bucket" {
  description = "Bucket of restore locks and status records (DR_STATE_BUCKET)."
  value       = google_storage_bucket.this["state"].name
}

output "function_source_bucket" {
  description = "Bucket holding the functions' source zips."
  value       = google_storage_bucket.this["function_source"].name
}

output "access_log_bucket" {
  description = "Bucket receiving the DR buckets' access logs."
  value       = google_storage_bucket.access_logs.name
}

output "functions" {
  description = "Cloud Functions by entry point => function name."
  value       = { for entry_point, function in google_cloudfunctions2_function.this : entry_point => function.name }
}

output "mongodb_job" {
  description = "The MongoDB Cloud Run job's full name (DR_MONGODB_JOB)."
  value       = google_cloud_run_v2_job.mongodb.id
}

output "mongodb_job_name" {
  description = "The MongoDB Cloud Run job's name, for gcloud run jobs commands."
  value       = google_cloud_run_v2_job.mongodb.name
}

output "image_repository" {
  description = "Artifact Registry path to push the MongoDB job image to (append /mongodb-job:TAG)."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "mongodb_job_image" {
  description = "The image the MongoDB job runs, by digest (mongodb-job:<mongodb_job_image_tag> as resolved at plan time)."
  value       = data.google_artifact_registry_docker_image.mongodb_job.self_link
}

output "mongodb_egress_ip" {
  description = "The MongoDB job's fixed outbound address, to add to the MongoDB Atlas IP access list (mongodb_static_egress_ip); empty when the option is off."
  value       = join("", [for address in google_compute_address.egress : address.address])
}

output "service_accounts" {
  description = "Service accounts by role: the runtime accounts (gcs, firestore, mongodb, mongodb-job, restore), push (Pub/Sub push invoker) and build."
  value = merge(
    { for key, account in google_service_account.runtime : key => account.email },
    { push = google_service_account.push.email, build = google_service_account.build.email },
  )
}

output "secrets" {
  description = "Secret Manager secrets to fill with `gcloud secrets versions add` => full resource name."
  value = merge(
    { for key, secret in google_secret_manager_secret.this : key => secret.id },
    { encryption_key = google_secret_manager_secret.encryption_key.id },
  )
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs => schedule."
  value       = { for key, job in google_cloud_scheduler_job.this : job.name => job.schedule }
}

output "restore_command" {
  description = "How to request a restore: publish a request to dr-restore (this one is a test restore of the latest daily MongoDB backup of a date)."
  value       = "gcloud pubsub topics publish ${google_pubsub_topic.this["dr-restore"].name} --project=${var.project_id} --message='{\"target\":\"mongodb\",\"date\":\"YYYY-MM-DD\",\"type\":\"daily\",\"test_mode\":true}'"
}
