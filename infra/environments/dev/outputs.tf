output "image_repository" {
  description = "Where to push the MongoDB job image."
  value       = module.disaster_recovery.image_repository
}

output "restore_command" {
  description = "Example restore request (a MongoDB test restore)."
  value       = module.disaster_recovery.restore_command
}

output "disaster_recovery" {
  description = "Every output of the module: buckets, topics, functions, job, service accounts, secrets, schedules."
  value       = module.disaster_recovery
}
