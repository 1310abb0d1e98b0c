output "image_repository" {
  description = "Where to push the MongoDB job image."
  value       = module.disaster_recovery.image_repository
}

output "mongodb_egress_ip" {
  description = "The MongoDB job's fixed outbound address for the Atlas IP access list (empty unless mongodb_static_egress_ip)."
  value       = module.disaster_recovery.mongodb_egress_ip
}

output "restore_command" {
  description = "Example restore request (a MongoDB test restore)."
  value       = module.disaster_recovery.restore_command
}

output "disaster_recovery" {
  description = "Every output of the module: buckets, topics, functions, job, service accounts, secrets, schedules."
  value       = module.disaster_recovery
}
