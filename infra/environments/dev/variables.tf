# Site-specific inputs of this environment, set in terraform.tfvars (see
# terraform.tfvars.example). They are validated by the module they feed, so a
# malformed value fails `terraform plan` with the module's message.

variable "project_id" {
  type        = string
  description = "Project that hosts this environment's DR system."
}

variable "region" {
  type        = string
  description = "Region of the functions, job, scheduler jobs and image repository."
  default     = "us-central1"
}

variable "bucket_location" {
  type        = string
  description = "Location of the DR buckets: the Firestore database's location or the multi-region containing it (nam5 -> US, eur3 -> EU)."
  default     = "US"
}

variable "firestore_project_id" {
  type        = string
  description = "Project of the Firestore database backed up. Empty: project_id."
  default     = ""
}

variable "firestore_collection_ids" {
  type        = list(string)
  description = "Collections exported; empty exports every collection."
  default     = []
}

variable "gcs_source_buckets" {
  type        = list(string)
  description = "Buckets backed up."
}

variable "gcs_critical_files" {
  type        = list(string)
  description = "Object paths verified after every GCS backup and restore."
  default     = []
}

variable "mongodb_db_name" {
  type        = string
  description = "MongoDB database dumped; empty dumps every database."
  default     = ""
}

variable "mongodb_is_atlas" {
  type        = bool
  description = "The MongoDB source is Atlas."
  default     = false
}

variable "mongodb_job_image" {
  type        = string
  description = "Image of the MongoDB job (functions/mongodb_job/Dockerfile), pushed to the image_repository output, by digest."
}

variable "mongodb_vpc_connector" {
  type        = string
  description = "Serverless VPC Access connector for a privately reachable MongoDB. Empty: public egress."
  default     = ""
}

variable "function_source_zip" {
  type        = string
  description = "Path of the functions' source zip, relative to this directory."
  default     = "../../../dist/functions-source.zip"
}

variable "notify_emails" {
  type        = list(string)
  description = "Addresses that get a report of every backup and restore."
  default     = []
}

variable "enable_notify_webhook" {
  type        = bool
  description = "Send reports to the webhook URLs stored in the dr-notify-webhook secret."
  default     = false
}

variable "smtp_host" {
  type        = string
  description = "Mail relay for the reports. Empty: the product's default."
  default     = ""
}

variable "smtp_port" {
  type        = number
  description = "Mail relay port."
  default     = 587
}

variable "smtp_username" {
  type        = string
  description = "Mail relay account; set, its password goes into the dr-smtp-password secret."
  default     = ""
}

variable "smtp_from" {
  type        = string
  description = "Sender address of the reports. Empty: the product's default."
  default     = ""
}

variable "alert_emails" {
  type        = list(string)
  description = "Addresses that receive the DR alerts."
  default     = []
}

variable "bucket_kms_key_name" {
  type        = string
  description = "Cloud KMS key for the DR buckets (in bucket_location). Empty: Google-managed encryption."
  default     = ""
}

variable "pubsub_kms_key_name" {
  type        = string
  description = "Cloud KMS key for the DR topics. Empty: Google-managed encryption."
  default     = ""
}
