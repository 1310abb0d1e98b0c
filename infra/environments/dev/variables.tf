# What this deployment must be told: where it runs, what it backs up, and who
# hears about it. Set in terraform.tfvars (see terraform.tfvars.example); the
# module validates every value. Every other module input has a default, and
# this environment's policy is set in main.tf.

variable "project_id" {
  type        = string
  description = "Project that hosts this environment's DR system."
}

variable "region" {
  type        = string
  description = "Region of the functions, job, scheduler jobs and image repository."
}

variable "bucket_location" {
  type        = string
  description = "Location of the DR buckets: the Firestore database's location or the multi-region containing it (nam5 -> US, eur3 -> EU)."
}

variable "firestore_project_id" {
  type        = string
  description = "Data project of the Firestore database backed up (the guide's eyewearml-project), usually not project_id."
}

variable "gcs_project_id" {
  type        = string
  description = "Data project of the source buckets (the guide's eyewearml-project), usually not project_id."
}

variable "gcs_source_buckets" {
  type        = list(string)
  description = "Buckets backed up."
}

variable "mongodb_job_image_tag" {
  type        = string
  description = "Tag of the mongodb-job image pushed by functions/mongodb_job/cloudbuild.yaml; resolved to its digest at plan time."
  default     = "current"
}

variable "mongodb_static_egress_ip" {
  type        = bool
  description = "Give the MongoDB job one fixed outbound address (Cloud NAT) for the MongoDB Atlas IP access list."
  default     = false
}

variable "operators_group" {
  type        = string
  description = "Google group allowed to request restores and manual backups and to read the catalog, runs and logs. Empty: none."
  default     = ""
}

variable "notify_emails" {
  type        = list(string)
  description = "Addresses that get a report of every backup and restore (sent through smtp_host)."
  default     = []
}

variable "smtp_host" {
  type        = string
  description = "Mail relay for the reports."
  default     = ""
}

variable "smtp_from" {
  type        = string
  description = "Sender address of the reports."
  default     = ""
}

variable "alert_emails" {
  type        = list(string)
  description = "Addresses that receive the DR alerts."
  default     = []
}
