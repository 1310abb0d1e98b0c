# Inputs of the disaster-recovery module. Every input is typed and described;
# every input with a format is validated here, so a typo fails at `terraform
# plan` with a message naming the input instead of at 3 a.m. in a function.

# --- project and placement ------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "Project that hosts the DR system (functions, job, topics, buckets). One project per environment: topic names such as dr-restore are fixed."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a Google Cloud project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the Cloud Run job, the scheduler jobs and the image repository, e.g. us-central1."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "The region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "environment" {
  type        = string
  description = "Environment name (dev, prod, ...): a label on every resource and part of the alert names."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "The environment must be 2-16 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels for every labelled resource (application, environment and managed-by are always set)."
  default     = {}

  validation {
    condition     = alltrue([for key, value in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))])
    error_message = "Label keys must be 1-63 lowercase letters, digits, '_' or '-' starting with a letter; values 0-63 of the same characters."
  }
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs this module uses (never disabled on destroy). Turn off where a platform team manages APIs."
  default     = true
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the MongoDB Cloud Run job from `terraform destroy`. Keep true in production."
  default     = true
}

# --- buckets ---------------------------------------------------------------------------------

variable "bucket_location" {
  type        = string
  description = "Location of the backup, state and log buckets: a multi-region (US, EU, ASIA), a dual-region (NAM4, EUR4) or a region. Firestore managed exports go to the backup bucket, so put it in the Firestore database's location or the multi-region that contains it (nam5/nam7 -> US, eur3 -> EU, a regional database -> that region): a distant bucket adds cross-region transfer to every export and import."

  validation {
    condition     = can(regex("^([A-Za-z]+[0-9]*|[a-z]+-[a-z]+[0-9]+)$", var.bucket_location))
    error_message = "The bucket_location must be a Cloud Storage location such as US, EU, NAM4 or us-central1."
  }
}

variable "backup_bucket_name" {
  type        = string
  description = "Name of the backup bucket (all three targets write under their own prefix). Empty: <project_id>-dr-backups."
  default     = ""

  validation {
    condition     = var.backup_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.backup_bucket_name))
    error_message = "The backup_bucket_name must be a Cloud Storage bucket name: 3-222 lowercase letters, digits, '-', '_' or '.'."
  }
}

variable "state_bucket_name" {
  type        = string
  description = "Name of the bucket for restore locks and status records (DR_STATE_BUCKET). Empty: <project_id>-dr-state."
  default     = ""

  validation {
    condition     = var.state_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.state_bucket_name))
    error_message = "The state_bucket_name must be a Cloud Storage bucket name: 3-222 lowercase letters, digits, '-', '_' or '.'."
  }
}

variable "function_source_bucket_name" {
  type        = string
  description = "Name of the bucket that holds the functions' source zip. Empty: <project_id>-dr-function-source."
  default     = ""

  validation {
    condition     = var.function_source_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.function_source_bucket_name))
    error_message = "The function_source_bucket_name must be a Cloud Storage bucket name: 3-222 lowercase letters, digits, '-', '_' or '.'."
  }
}

variable "access_log_bucket_name" {
  type        = string
  description = "Name of the bucket that receives the other buckets' access logs. Empty: <project_id>-dr-access-logs."
  default     = ""

  validation {
    condition     = var.access_log_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.access_log_bucket_name))
    error_message = "The access_log_bucket_name must be a Cloud Storage bucket name: 3-222 lowercase letters, digits, '-', '_' or '.'."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Safety net beyond the product's own retention: days a deleted or replaced object of the backup and state buckets stays recoverable as a noncurrent version before the lifecycle rule deletes it."
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && var.noncurrent_version_retention_days <= 3650 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "The noncurrent_version_retention_days must be a whole number of days from 1 to 3650."
  }
}

variable "soft_delete_retention_days" {
  type        = number
  description = "Soft-delete window of the backup bucket: days a hard-deleted object (including a noncurrent version removed by lifecycle) can still be restored. 0 turns soft delete off; otherwise 7-90."
  default     = 7

  validation {
    condition     = var.soft_delete_retention_days == 0 || (var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90 && floor(var.soft_delete_retention_days) == var.soft_delete_retention_days)
    error_message = "The soft_delete_retention_days must be 0 (off) or a whole number of days from 7 to 90."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days the access logs of the DR buckets are kept."
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1 && floor(var.access_log_retention_days) == var.access_log_retention_days
    error_message = "The access_log_retention_days must be a whole number of days >= 1."
  }
}

variable "bucket_kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the DR buckets by default; its location must match bucket_location. Empty: Google-managed encryption."
  default     = ""

  validation {
    condition     = var.bucket_kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.bucket_kms_key_name))
    error_message = "The bucket_kms_key_name must be empty or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "pubsub_kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the DR topics. Empty: Google-managed encryption."
  default     = ""

  validation {
    condition     = var.pubsub_kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.pubsub_kms_key_name))
    error_message = "The pubsub_kms_key_name must be empty or projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

# --- Cloud Storage backups (the guide's gcs_backup.conf) -----------------------------------

variable "gcs_project_id" {
  type        = string
  description = "GCS_PROJECT_ID: the data project the source buckets belong to (the guide's eyewearml-project). Required, because the data usually lives outside the DR project: test restores and restores into a new bucket create their buckets here."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.gcs_project_id))
    error_message = "The gcs_project_id must be a Google Cloud project id (the project of the source buckets)."
  }
}

variable "gcs_source_buckets" {
  type        = list(string)
  description = "GCS_SOURCE_BUCKETS: the buckets backed up. The GCS backup account gets objectViewer on each."

  validation {
    condition     = length(var.gcs_source_buckets) > 0 && alltrue([for b in var.gcs_source_buckets : can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", b))])
    error_message = "The gcs_source_buckets must list at least one Cloud Storage bucket name."
  }
}

variable "gcs_critical_files" {
  type        = list(string)
  description = "GCS_CRITICAL_FILES: object paths (path, bucket/path or gs://bucket/path) verified after every backup and restore."
  default     = []

  validation {
    condition     = alltrue([for f in var.gcs_critical_files : length(trimspace(f)) > 0 && length(regexall(",", f)) == 0])
    error_message = "Each of gcs_critical_files must be a non-empty object path without commas."
  }
}

variable "gcs_retention_days" {
  type        = number
  description = "GCS_RETENTION_DAYS: days of Cloud Storage snapshots the product keeps."
  default     = 90

  validation {
    condition     = var.gcs_retention_days >= 0 && floor(var.gcs_retention_days) == var.gcs_retention_days
    error_message = "The gcs_retention_days must be a whole number >= 0."
  }
}

variable "gcs_shard_size" {
  type        = number
  description = "GCS_SHARD_SIZE: objects per copy shard (one dr-gcs-shards message each)."
  default     = 1000

  validation {
    condition     = var.gcs_shard_size >= 1 && var.gcs_shard_size <= 100000 && floor(var.gcs_shard_size) == var.gcs_shard_size
    error_message = "The gcs_shard_size must be a whole number from 1 to 100000."
  }
}

variable "restore_target_buckets" {
  type        = list(string)
  description = "Buckets a GCS restore may write to (the restore account gets objectAdmin on each). Empty: the source buckets."
  default     = []

  validation {
    condition     = alltrue([for b in var.restore_target_buckets : can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", b))])
    error_message = "Each of restore_target_buckets must be a Cloud Storage bucket name."
  }
}

variable "enable_restore_bucket_creation" {
  type        = bool
  description = "Let the restore account create and delete buckets (and their objects) in the GCS project, which Cloud Storage test restores (a temporary <source>-drtest-<hex> bucket) and restores into a new target bucket need. Off: only restores into existing restore_target_buckets work."
  default     = true
}

# --- Firestore backups (the guide's firestore_backup.conf) ---------------------------------

variable "firestore_project_id" {
  type        = string
  description = "FIRESTORE_PROJECT_ID: the data project of the Firestore database (the guide's eyewearml-project). Required, never defaulted to project_id: an export of the DR project's own database would succeed and back up the wrong data. Its Firestore service agent gets write access to the backup bucket."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.firestore_project_id))
    error_message = "The firestore_project_id must be a Google Cloud project id (the project of the Firestore database)."
  }
}

variable "firestore_database" {
  type        = string
  description = "FIRESTORE_DATABASE: the database exported, (default) or a named database id."
  default     = "(default)"

  validation {
    condition     = can(regex("^(\\(default\\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$", var.firestore_database))
    error_message = "The firestore_database must be (default) or a database id: 4-63 lowercase letters, digits or hyphens."
  }
}

variable "firestore_collection_ids" {
  type        = list(string)
  description = "FIRESTORE_COLLECTION_IDS: collection ids exported; empty exports every collection."
  default     = []

  validation {
    condition     = alltrue([for c in var.firestore_collection_ids : can(regex("^[^/, ]+$", c))])
    error_message = "Each of firestore_collection_ids must be a collection id without '/', ',' or spaces."
  }
}

variable "firestore_retention_days" {
  type        = number
  description = "FIRESTORE_RETENTION_DAYS: days of Firestore exports the product keeps."
  default     = 30

  validation {
    condition     = var.firestore_retention_days >= 0 && floor(var.firestore_retention_days) == var.firestore_retention_days
    error_message = "The firestore_retention_days must be a whole number >= 0."
  }
}

# --- MongoDB backups (the guide's mongodb_backup.conf) -------------------------------------

variable "mongodb_db_name" {
  type        = string
  description = "MONGODB_DB_NAME: the database dumped; empty dumps every database."
  default     = ""

  validation {
    condition     = var.mongodb_db_name == "" || can(regex("^[^/\\\\. \"$*<>:|?]{1,63}$", var.mongodb_db_name))
    error_message = "The mongodb_db_name must be empty or a MongoDB database name (1-63 characters, none of /\\. \"$*<>:|?)."
  }
}

variable "mongodb_is_atlas" {
  type        = bool
  description = "MONGODB_IS_ATLAS: the source is MongoDB Atlas."
  default     = false
}

variable "mongodb_backup_dir" {
  type        = string
  description = "MONGODB_BACKUP_DIR: object prefix of MongoDB backups inside the backup bucket (the guide's backup directory). Empty: none."
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]*$", var.mongodb_backup_dir))
    error_message = "The mongodb_backup_dir must be an object prefix of letters, digits, '.', '_', '-' and '/'."
  }
}

variable "mongodb_retention_daily" {
  type        = number
  description = "RETENTION_DAILY: daily MongoDB backups kept."
  default     = 30

  validation {
    condition     = var.mongodb_retention_daily >= 0 && floor(var.mongodb_retention_daily) == var.mongodb_retention_daily
    error_message = "The mongodb_retention_daily must be a whole number >= 0."
  }
}

variable "mongodb_retention_weekly" {
  type        = number
  description = "RETENTION_WEEKLY: weekly MongoDB backups kept."
  default     = 12

  validation {
    condition     = var.mongodb_retention_weekly >= 0 && floor(var.mongodb_retention_weekly) == var.mongodb_retention_weekly
    error_message = "The mongodb_retention_weekly must be a whole number >= 0."
  }
}

variable "mongodb_retention_monthly" {
  type        = number
  description = "RETENTION_MONTHLY: monthly MongoDB backups kept."
  default     = 12

  validation {
    condition     = var.mongodb_retention_monthly >= 0 && floor(var.mongodb_retention_monthly) == var.mongodb_retention_monthly
    error_message = "The mongodb_retention_monthly must be a whole number >= 0."
  }
}

variable "enable_hourly" {
  type        = bool
  description = "ENABLE_HOURLY: also take hourly MongoDB backups (adds the hourly scheduler job)."
  default     = false
}

variable "mongodb_hourly_retention" {
  type        = number
  description = "HOURLY_RETENTION: hourly MongoDB backups kept."
  default     = 24

  validation {
    condition     = var.mongodb_hourly_retention >= 0 && floor(var.mongodb_hourly_retention) == var.mongodb_hourly_retention
    error_message = "The mongodb_hourly_retention must be a whole number >= 0."
  }
}

variable "mongodb_job_image_tag" {
  type        = string
  description = "Tag of the mongodb-job image in this module's image repository, pushed by functions/mongodb_job/cloudbuild.yaml. Terraform resolves it to the image's digest at plan time, so the job runs exactly the image the plan shows, and pushing the tag again changes nothing until the next apply."
  default     = "current"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.mongodb_job_image_tag))
    error_message = "The mongodb_job_image_tag must be a Docker tag: 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'."
  }
}

variable "mongodb_job_cpu" {
  type        = string
  description = "CPUs of the MongoDB job's task (compression and encryption are CPU-bound)."
  default     = "2"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.mongodb_job_cpu)
    error_message = "The mongodb_job_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "mongodb_job_memory" {
  type        = string
  description = "Memory of the MongoDB job's task, e.g. 4Gi. The dump streams, so this does not grow with the database."
  default     = "4Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.mongodb_job_memory))
    error_message = "The mongodb_job_memory must be a quantity such as 512Mi or 4Gi."
  }
}

variable "mongodb_job_timeout_seconds" {
  type        = number
  description = "Task timeout of the MongoDB job: the longest a dump or restore may run."
  default     = 21600

  validation {
    condition     = var.mongodb_job_timeout_seconds >= 60 && var.mongodb_job_timeout_seconds <= 86400 && floor(var.mongodb_job_timeout_seconds) == var.mongodb_job_timeout_seconds
    error_message = "The mongodb_job_timeout_seconds must be a whole number from 60 to 86400."
  }
}

variable "mongodb_job_max_retries" {
  type        = number
  description = "Retries of a failed MongoDB job task. 0: a failed run is reported and the next schedule tries again; a blind retry of a restore is never wanted."
  default     = 0

  validation {
    condition     = var.mongodb_job_max_retries >= 0 && var.mongodb_job_max_retries <= 1 && floor(var.mongodb_job_max_retries) == var.mongodb_job_max_retries
    error_message = "The mongodb_job_max_retries must be 0 or 1."
  }
}

variable "mongodb_vpc_connector" {
  type        = string
  description = "Serverless VPC Access connector (projects/P/locations/L/connectors/NAME) for a MongoDB reachable only privately (Atlas private endpoint, VPC peering). Empty: public egress. Ignored when mongodb_static_egress_ip is on."
  default     = ""

  validation {
    condition     = var.mongodb_vpc_connector == "" || can(regex("^projects/[^/]+/locations/[^/]+/connectors/[^/]+$", var.mongodb_vpc_connector))
    error_message = "The mongodb_vpc_connector must be empty or projects/P/locations/L/connectors/NAME."
  }
}

variable "mongodb_vpc_egress" {
  type        = string
  description = "Egress through the VPC connector: PRIVATE_RANGES_ONLY (MongoDB on private addresses) or ALL_TRAFFIC (everything through the connector's network)."
  default     = "PRIVATE_RANGES_ONLY"

  validation {
    condition     = contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], var.mongodb_vpc_egress)
    error_message = "The mongodb_vpc_egress must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

variable "mongodb_static_egress_ip" {
  type        = bool
  description = "Give the MongoDB job one fixed outbound address for the MongoDB Atlas IP access list: a network and subnet of its own, Direct VPC egress of all its traffic, and Cloud NAT on a reserved external address (output mongodb_egress_ip). Off: the job's outbound address is any of Google's."
  default     = false
}

variable "mongodb_egress_subnet_cidr" {
  type        = string
  description = "Private range of the job's egress subnet (with mongodb_static_egress_ip). Direct VPC egress needs a /26 or larger; it must not overlap a network peered with it."
  default     = "10.8.0.0/26"

  validation {
    condition     = can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-6])$", var.mongodb_egress_subnet_cidr))
    error_message = "The mongodb_egress_subnet_cidr must be an IPv4 range from /16 to /26, such as 10.8.0.0/26."
  }
}

# --- secrets (created empty: values are added with gcloud, never through Terraform) --------

variable "mongodb_uri_secret_id" {
  type        = string
  description = "Secret Manager secret holding the MongoDB connection URI (MONGODB_URI of the job)."
  default     = "dr-mongodb-uri"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.mongodb_uri_secret_id))
    error_message = "The mongodb_uri_secret_id must be 1-255 letters, digits, '_' or '-'."
  }
}

variable "encryption_key_secret_id" {
  type        = string
  description = "Secret Manager secret whose versions are the backup encryption keys (ENCRYPTION_KEY_SECRET); rotation is adding a version."
  default     = "dr-encryption-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.encryption_key_secret_id))
    error_message = "The encryption_key_secret_id must be 1-255 letters, digits, '_' or '-'."
  }
}

variable "smtp_password_secret_id" {
  type        = string
  description = "Secret Manager secret holding the SMTP password (created when smtp_username is set)."
  default     = "dr-smtp-password"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.smtp_password_secret_id))
    error_message = "The smtp_password_secret_id must be 1-255 letters, digits, '_' or '-'."
  }
}

variable "notify_webhook_secret_id" {
  type        = string
  description = "Secret Manager secret holding the comma-separated webhook URLs (created when enable_notify_webhook is true)."
  default     = "dr-notify-webhook"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.notify_webhook_secret_id))
    error_message = "The notify_webhook_secret_id must be 1-255 letters, digits, '_' or '-'."
  }
}

# --- notifications -------------------------------------------------------------------------

variable "notify_emails" {
  type        = list(string)
  description = "NOTIFY_EMAIL: addresses that get a report of every backup and restore."
  default     = []

  validation {
    condition     = alltrue([for e in var.notify_emails : can(regex("^[^@ ,]+@[^@ ,]+\\.[^@ ,]+$", e))])
    error_message = "Each of notify_emails must be an email address."
  }
}

variable "enable_notify_webhook" {
  type        = bool
  description = "Send reports to the webhooks in the notify_webhook secret (NOTIFY_WEBHOOK). Add the secret's version before the first run."
  default     = false
}

variable "smtp_host" {
  type        = string
  description = "SMTP_HOST: the mail relay for notify_emails. Empty: the product's default."
  default     = ""

  validation {
    condition     = var.smtp_host == "" || can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", var.smtp_host))
    error_message = "The smtp_host must be empty or a host name."
  }
}

variable "smtp_port" {
  type        = number
  description = "SMTP_PORT: the mail relay's port (587 for STARTTLS submission)."
  default     = 587

  validation {
    condition     = var.smtp_port >= 1 && var.smtp_port <= 65535 && floor(var.smtp_port) == var.smtp_port
    error_message = "The smtp_port must be a TCP port from 1 to 65535."
  }
}

variable "smtp_username" {
  type        = string
  description = "SMTP_USERNAME: the relay account. Set: the SMTP password secret is created and SMTP_PASSWORD refers to it."
  default     = ""

  validation {
    condition     = length(regexall("[\\s,]", var.smtp_username)) == 0
    error_message = "The smtp_username must not contain spaces or commas."
  }
}

variable "smtp_from" {
  type        = string
  description = "SMTP_FROM: sender address of the reports. Empty: the product's default."
  default     = ""

  validation {
    condition     = var.smtp_from == "" || can(regex("^[^@ ,]+@[^@ ,]+\\.[^@ ,]+$", var.smtp_from))
    error_message = "The smtp_from must be empty or an email address."
  }
}

# --- schedules (the guide's crontab, in Cloud Scheduler) -----------------------------------

variable "schedule_time_zone" {
  type        = string
  description = "Time zone of every schedule (tz database name)."
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$", var.schedule_time_zone))
    error_message = "The schedule_time_zone must be a tz database name such as Etc/UTC or Europe/Berlin."
  }
}

variable "mongodb_hourly_schedule" {
  type        = string
  description = "Cron schedule of the hourly MongoDB backup (used when enable_hourly). Off the hour, so it never starts with the daily run."
  default     = "30 * * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.mongodb_hourly_schedule))
    error_message = "The mongodb_hourly_schedule must be a five-field cron expression."
  }
}

variable "mongodb_daily_schedule" {
  type        = string
  description = "Cron schedule of the daily MongoDB backup (the guide: 01:00)."
  default     = "0 1 * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.mongodb_daily_schedule))
    error_message = "The mongodb_daily_schedule must be a five-field cron expression."
  }
}

variable "mongodb_weekly_schedule" {
  type        = string
  description = "Cron schedule of the weekly MongoDB backup (Sunday 04:00: after the daily and Firestore/GCS runs)."
  default     = "0 4 * * 0"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.mongodb_weekly_schedule))
    error_message = "The mongodb_weekly_schedule must be a five-field cron expression."
  }
}

variable "mongodb_monthly_schedule" {
  type        = string
  description = "Cron schedule of the monthly MongoDB backup (the 1st at 05:00)."
  default     = "0 5 1 * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.mongodb_monthly_schedule))
    error_message = "The mongodb_monthly_schedule must be a five-field cron expression."
  }
}

variable "firestore_backup_schedule" {
  type        = string
  description = "Cron schedule of the daily Firestore export (the guide: 02:00)."
  default     = "0 2 * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.firestore_backup_schedule))
    error_message = "The firestore_backup_schedule must be a five-field cron expression."
  }
}

variable "firestore_complete_schedule" {
  type        = string
  description = "Cron schedule of the check that completes finished Firestore exports and imports."
  default     = "*/10 * * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.firestore_complete_schedule))
    error_message = "The firestore_complete_schedule must be a five-field cron expression."
  }
}

variable "freshness_schedule" {
  type        = string
  description = "Cron schedule of the missed-backup check (dr-freshness)."
  default     = "17 * * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.freshness_schedule))
    error_message = "The freshness_schedule must be a five-field cron expression."
  }
}

variable "freshness_grace_minutes" {
  type        = number
  description = "DR_FRESHNESS_GRACE_MINUTES: how late past its schedule a backup may be before the missed-backup alert."
  default     = 180

  validation {
    condition     = var.freshness_grace_minutes >= 0 && floor(var.freshness_grace_minutes) == var.freshness_grace_minutes
    error_message = "The freshness_grace_minutes must be a whole number of minutes >= 0."
  }
}

variable "drill_schedule" {
  type        = string
  description = "Cron schedule of the recovery drill (quarterly by default: 09:00 on the first day of January, April, July and October); empty: no scheduled drill."
  default     = "0 9 1 1,4,7,10 *"

  validation {
    condition     = var.drill_schedule == "" || can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.drill_schedule))
    error_message = "The drill_schedule must be a five-field cron expression or empty."
  }
}

variable "drill_advance_schedule" {
  type        = string
  description = "Cron schedule of the drill's follow-up: publishes each target's next test restore and finishes the drill when they have ended."
  default     = "*/10 * * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.drill_advance_schedule))
    error_message = "The drill_advance_schedule must be a five-field cron expression."
  }
}

variable "rpo_objectives" {
  type        = map(string)
  description = "RPO_OBJECTIVE_<TARGET>: each target's recovery point objective for the drills (mongodb, firestore, gcs => e.g. \"26h\"); a target left out defaults to its schedule plus the grace."
  default     = {}

  validation {
    condition     = alltrue([for target, objective in var.rpo_objectives : contains(["mongodb", "firestore", "gcs"], target) && can(regex("^[0-9]{1,6}(s|min|h|d)$", objective))])
    error_message = "The rpo_objectives keys must be mongodb, firestore or gcs and the values durations such as 90min, 26h or 2d."
  }
}

variable "rto_objectives" {
  type        = map(string)
  description = "RTO_OBJECTIVE_<TARGET>: each target's recovery time objective for the drills (mongodb, firestore, gcs => e.g. \"4h\")."
  default     = {}

  validation {
    condition     = alltrue([for target, objective in var.rto_objectives : contains(["mongodb", "firestore", "gcs"], target) && can(regex("^[0-9]{1,6}(s|min|h|d)$", objective))])
    error_message = "The rto_objectives keys must be mongodb, firestore or gcs and the values durations such as 90min, 4h or 2d."
  }
}

variable "gcs_backup_schedule" {
  type        = string
  description = "Cron schedule of the daily Cloud Storage backup (the guide: 03:00)."
  default     = "0 3 * * *"

  validation {
    condition     = can(regex("^([0-9A-Za-z*/,-]+ ){4}[0-9A-Za-z*/,-]+$", var.gcs_backup_schedule))
    error_message = "The gcs_backup_schedule must be a five-field cron expression."
  }
}

# --- functions -----------------------------------------------------------------------------

variable "function_source_zip" {
  type        = string
  description = "Path of the functions' source zip (functions/main.py as main.py, shared/ and requirements.txt at its root), relative to the directory terraform runs in. Its SHA-256 names the uploaded object, so a changed zip redeploys the functions."

  validation {
    condition     = can(regex("\\.zip$", var.function_source_zip))
    error_message = "The function_source_zip must be the path of a .zip file."
  }
}

variable "function_timeout_seconds" {
  type        = number
  description = "Timeout of every function. At most 540 s, so a request always ends before the push subscription's 600 s acknowledgement deadline."
  default     = 540

  validation {
    condition     = var.function_timeout_seconds >= 60 && var.function_timeout_seconds <= 540 && floor(var.function_timeout_seconds) == var.function_timeout_seconds
    error_message = "The function_timeout_seconds must be a whole number from 60 to 540."
  }
}

variable "function_max_instances" {
  type        = map(number)
  description = "Maximum instances per function, by entry point; unlisted functions keep the module's defaults (gcs_copy_shard 10, dr_restore 2, others 1)."
  default     = {}

  validation {
    condition = alltrue([
      for name, count in var.function_max_instances :
      contains(["gcs_backup", "gcs_copy_shard", "mongodb_backup", "firestore_backup", "firestore_complete", "dr_restore"], name) && count >= 1 && count <= 100 && floor(count) == count
    ])
    error_message = "The function_max_instances keys must be entry points of functions/main.py and the values whole numbers from 1 to 100."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of a message before it goes to its topic's dead-letter topic (the shard topic always allows the maximum, 100: a push refused because every instance is busy counts as an attempt)."
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "The max_delivery_attempts must be a whole number from 5 to 100 (Pub/Sub's limits)."
  }
}

# --- operators -----------------------------------------------------------------------------

variable "operators_group" {
  type        = string
  description = "Google group of the people who run the DR system: they may request restores and manual backups (publish to dr-restore and the backup topics), read the backup catalog (listings and manifests) and the state bucket, follow the MongoDB job's executions and read the logs; nothing that deletes or overwrites. Empty: no operator grants."
  default     = ""

  validation {
    condition     = var.operators_group == "" || can(regex("^[^@ ,]+@[^@ ,]+\\.[^@ ,]+$", var.operators_group))
    error_message = "The operators_group must be empty or the email address of a Google group."
  }
}

# --- monitoring ----------------------------------------------------------------------------

variable "alert_emails" {
  type        = list(string)
  description = "Addresses that receive the DR alerts (errors, stale backups, dead letters)."
  default     = []

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@ ,]+@[^@ ,]+\\.[^@ ,]+$", e))])
    error_message = "Each of alert_emails must be an email address."
  }
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Existing Cloud Monitoring notification channels (projects/P/notificationChannels/ID) that also receive the DR alerts."
  default     = []

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "Each of alert_notification_channels must be projects/P/notificationChannels/ID."
  }
}

variable "backup_staleness_hours" {
  type        = number
  description = "Alert when a target (gcs, firestore, mongodb) has had no successful backup for this many hours. Alerting policies align data over at most 25 h (90,000 s), hence the ceiling; with daily backups, 25 tolerates a run finishing up to an hour later than the day before."
  default     = 25

  validation {
    condition     = var.backup_staleness_hours >= 2 && var.backup_staleness_hours <= 25 && floor(var.backup_staleness_hours) == var.backup_staleness_hours
    error_message = "The backup_staleness_hours must be a whole number from 2 to 25."
  }
}
