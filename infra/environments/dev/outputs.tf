output "topics" {
  description = "Trigger topics => full resource name."
  value       = module.disaster_recovery.topics
}

output "dead_letter_subscriptions" {
  description = "Pull subscription keeping each topic's dead letters."
  value       = module.disaster_recovery.dead_letter_subscriptions
}

output "backup_bucket" {
  description = "Bucket of every backup."
  value       = module.disaster_recovery.backup_bucket
}

output "state_bucket" {
  description = "Bucket of restore locks and status records."
  value       = module.disaster_recovery.state_bucket
}

output "functions" {
  description = "Cloud Functions by entry point => name."
  value       = module.disaster_recovery.functions
}

output "mongodb_job" {
  description = "Full name of the MongoDB Cloud Run job."
  value       = module.disaster_recovery.mongodb_job
}

output "mongodb_job_name" {
  description = "Name of the MongoDB Cloud Run job."
  value       = module.disaster_recovery.mongodb_job_name
}

output "image_repository" {
  description = "Where to push the MongoDB job image."
  value       = module.disaster_recovery.image_repository
}

output "service_accounts" {
  description = "Service accounts by role."
  value       = module.disaster_recovery.service_accounts
}

output "secrets" {
  description = "Secrets to fill with gcloud secrets versions add."
  value       = module.disaster_recovery.secrets
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs => schedule."
  value       = module.disaster_recovery.scheduler_jobs
}

output "restore_command" {
  description = "Example restore request (a MongoDB test restore)."
  value       = module.disaster_recovery.restore_command
}
