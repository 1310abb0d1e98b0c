# Identities and least-privilege grants. Every grant is on the narrowest
# resource that takes it (a bucket, a topic, a secret, the job); the only
# project-level grants are Firestore import/export and the scratch databases
# of Firestore test restores (Firestore has no finer resource for them; the
# deletion is limited by a condition), log writing for builds, a read-only
# custom role for polling Cloud Run executions, and (optional) bucket creation
# for GCS test restores, whose buckets do not exist before. The Firestore and
# GCS grants are on the data projects (firestore_project_id, gcs_project_id);
# the MongoDB job needs nothing there (MongoDB is outside Google Cloud).

locals {
  runtime_accounts = {
    gcs         = "DR Cloud Storage backup functions"
    firestore   = "DR Firestore backup functions"
    mongodb     = "DR MongoDB backup trigger function"
    mongodb-job = "DR MongoDB backup and restore job"
    restore     = "DR restore dispatcher function"
    watch       = "DR freshness check and recovery drills"
  }

  # The accounts that send run reports read the notification secrets that
  # exist. The MongoDB trigger only starts the job, which reports itself.
  notify_accounts    = ["gcs", "firestore", "mongodb-job", "restore", "watch"]
  notify_secret_keys = [for key in ["smtp_password", "notify_webhook"] : key if local.secrets[key].enabled]
  notify_secret_grants = {
    for pair in setproduct(local.notify_secret_keys, local.notify_accounts) :
    "${pair[0]}/${pair[1]}" => { secret = pair[0], account = pair[1] }
  }

  # Name prefix of a Firestore test restore's scratch database
  # (shared/firestore/restore.py).
  firestore_scratch_prefix = "dr-test-"

  restore_target_buckets = toset(length(var.restore_target_buckets) > 0 ? var.restore_target_buckets : var.gcs_source_buckets)
}

resource "google_service_account" "runtime" {
  for_each = local.runtime_accounts

  project      = var.project_id
  account_id   = "dr-${each.key}"
  display_name = each.value
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "dr-pubsub-push"
  display_name = "DR Pub/Sub push invoker"
  description  = "Identity of Pub/Sub push requests to the DR functions; may only invoke them."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "dr-functions-build"
  display_name = "DR functions build"
  description  = "Cloud Build identity that builds the DR functions from their source zip."
}

# --- buckets -------------------------------------------------------------------------------

resource "google_storage_bucket_iam_member" "backups_object_admin" {
  for_each = toset(["gcs", "firestore", "mongodb-job", "restore"])

  bucket = google_storage_bucket.this["backups"].name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.runtime[each.key].member
}

resource "google_storage_bucket_iam_member" "state_object_admin" {
  for_each = toset(["firestore", "mongodb-job", "restore", "watch"])

  bucket = google_storage_bucket.this["state"].name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.runtime[each.key].member
}

# The freshness check and the drills read the catalogs; a drill adds its
# report (drills/<id>/report.json and .md), never changing or deleting a backup.
resource "google_storage_bucket_iam_member" "watch_backups" {
  for_each = toset(["roles/storage.objectViewer", "roles/storage.objectCreator"])

  bucket = google_storage_bucket.this["backups"].name
  role   = each.key
  member = google_service_account.runtime["watch"].member
}

# A drill requests its test restores the way an operator does.
resource "google_pubsub_topic_iam_member" "drill_restore_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.this["dr-restore"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime["watch"].member
}

resource "google_storage_bucket_iam_member" "source_object_viewer" {
  for_each = toset(var.gcs_source_buckets)

  bucket = each.key
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["gcs"].member
}

# A snapshot records each object's ACL where a source bucket uses fine-grained
# access; reading an object's ACL takes storage.objects.getIamPolicy, which
# objectViewer lacks. Nothing here lets the backup change a source object.
resource "google_project_iam_custom_role" "source_acl_reader" {
  project     = var.project_id
  role_id     = "eyewearmlDrSourceAclReader"
  title       = "EyewearML DR source object ACL reader"
  description = "Reads the ACLs of source objects so that a snapshot records them."
  permissions = ["storage.objects.getIamPolicy"]
}

resource "google_storage_bucket_iam_member" "source_acl_reader" {
  for_each = toset(var.gcs_source_buckets)

  bucket = each.key
  role   = google_project_iam_custom_role.source_acl_reader.name
  member = google_service_account.runtime["gcs"].member
}

resource "google_storage_bucket_iam_member" "restore_target_object_admin" {
  for_each = local.restore_target_buckets

  bucket = each.key
  role   = "roles/storage.objectAdmin"
  member = google_service_account.runtime["restore"].member
}

# A GCS restore creates its bucket next to the backup bucket (same location),
# so it reads the backup bucket's metadata.
resource "google_storage_bucket_iam_member" "restore_backup_metadata" {
  bucket = google_storage_bucket.this["backups"].name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.runtime["restore"].member
}

# A GCS test restore creates a temporary bucket (<source>-drtest-<hex>),
# restores into it, verifies and deletes it; a restore into a new target
# bucket creates that bucket. Neither bucket exists before, so these
# permissions can only be granted on the project that holds them.
resource "google_project_iam_custom_role" "restore_buckets" {
  count = var.enable_restore_bucket_creation ? 1 : 0

  project     = local.gcs_project_id
  role_id     = "eyewearmlDrRestoreBuckets"
  title       = "EyewearML DR restore buckets"
  description = "Creates, fills, verifies and deletes the buckets of Cloud Storage test restores and of restores into a new bucket."
  permissions = [
    "storage.buckets.create",
    "storage.buckets.delete",
    "storage.buckets.get",
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

resource "google_project_iam_member" "restore_buckets" {
  count = var.enable_restore_bucket_creation ? 1 : 0

  project = local.gcs_project_id
  role    = google_project_iam_custom_role.restore_buckets[0].name
  member  = google_service_account.runtime["restore"].member
}

# Managed exports are written, and imports read, by the Firestore service
# agent of the database's project, which also needs storage.buckets.get.
resource "google_storage_bucket_iam_member" "firestore_agent" {
  for_each = toset(["roles/storage.objectAdmin", "roles/storage.legacyBucketReader"])

  bucket = google_storage_bucket.this["backups"].name
  role   = each.key
  member = local.firestore_agent
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.this["function_source"].name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Cloud Storage writes usage logs as this Google group.
resource "google_storage_bucket_iam_member" "access_log_writer" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# --- Firestore, Cloud Run, builds ----------------------------------------------------------

resource "google_project_iam_member" "firestore_import_export" {
  for_each = toset(["firestore", "restore"])

  project = local.firestore_project_id
  role    = "roles/datastore.importExportAdmin"
  member  = google_service_account.runtime[each.key].member
}

# A Firestore test restore imports into a scratch database (dr-test-<time>-<hex>)
# of the data project, compares its documents with the export (a digest per
# document) and deletes it: dr-restore creates it, dr-firestore-complete
# (re)creates, verifies and deletes it. A restore with rewrite_references
# also updates the references of the documents it imported. Import/export
# admin covers none of that. Deleting is limited by an IAM condition to the
# scratch databases, so no DR account can delete the production database.
resource "google_project_iam_custom_role" "firestore_scratch" {
  project     = local.firestore_project_id
  role_id     = "eyewearmlDrFirestoreScratch"
  title       = "EyewearML DR Firestore scratch databases"
  description = "Creates the scratch database of a Firestore test restore, reads back imported documents to verify them, and rewrites references when a restore asks for it."
  permissions = [
    "datastore.databases.create",
    "datastore.databases.getMetadata",
    "datastore.entities.get",
    "datastore.entities.list",
    "datastore.entities.update",
  ]
}

resource "google_project_iam_member" "firestore_scratch" {
  for_each = toset(["firestore", "restore"])

  project = local.firestore_project_id
  role    = google_project_iam_custom_role.firestore_scratch.name
  member  = google_service_account.runtime[each.key].member
}

resource "google_project_iam_custom_role" "firestore_scratch_delete" {
  project     = local.firestore_project_id
  role_id     = "eyewearmlDrFirestoreScratchDelete"
  title       = "EyewearML DR Firestore scratch database deletion"
  description = "Deletes Firestore databases; granted only with a condition naming the test restores' scratch databases."
  permissions = ["datastore.databases.delete"]
}

resource "google_project_iam_member" "firestore_scratch_delete" {
  project = local.firestore_project_id
  role    = google_project_iam_custom_role.firestore_scratch_delete.name
  member  = google_service_account.runtime["firestore"].member

  condition {
    title       = "scratch databases only"
    description = "The databases Firestore test restores create (dr-test-*)."
    expression  = "resource.name.startsWith(\"projects/${local.firestore_project_id}/databases/${local.firestore_scratch_prefix}\")"
  }
}

# Run the job with per-execution overrides (tier, restore request), on this job only.
resource "google_cloud_run_v2_job_iam_member" "executor" {
  for_each = toset(["mongodb", "restore"])

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.mongodb.name
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = google_service_account.runtime[each.key].member
}

# Following a started execution needs its operation and execution, which the
# executor role does not read; roles/run.viewer would also show every
# service's configuration in the project.
resource "google_project_iam_custom_role" "run_execution_reader" {
  project     = var.project_id
  role_id     = "eyewearmlDrRunExecutionReader"
  title       = "EyewearML DR Cloud Run execution reader"
  description = "Reads Cloud Run job executions and operations, to follow a started backup or restore."
  permissions = ["run.executions.get", "run.executions.list", "run.operations.get"]
}

resource "google_project_iam_member" "run_execution_reader" {
  for_each = toset(["mongodb", "restore"])

  project = var.project_id
  role    = google_project_iam_custom_role.run_execution_reader.name
  member  = google_service_account.runtime[each.key].member
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# --- Pub/Sub -------------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "gcs_shard_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.this["dr-gcs-shards"].name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.runtime["gcs"].member
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to the
# dead-letter topic and acknowledge (subscribe) on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = toset(local.topics)

  project = var.project_id
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.functions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The Pub/Sub service agent mints the push requests' OIDC tokens.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Cloud Scheduler publishes through its own service agent, whose default role
# already allows publishing; no grant is needed here.

# --- secrets -------------------------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "job_mongodb_uri" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.this["mongodb_uri"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime["mongodb-job"].member
}

# The job reads key versions itself (the current one to encrypt, older ones
# by id to decrypt), so it needs access to the whole secret.
resource "google_secret_manager_secret_iam_member" "job_encryption_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.encryption_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime["mongodb-job"].member
}

resource "google_secret_manager_secret_iam_member" "notify" {
  for_each = local.notify_secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime[each.value.account].member
}

# --- customer-managed encryption keys ------------------------------------------------------

data "google_storage_project_service_account" "this" {
  project = var.project_id
}

resource "google_kms_crypto_key_iam_member" "storage_agent" {
  count = var.bucket_kms_key_name != "" ? 1 : 0

  crypto_key_id = var.bucket_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
}

resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  count = var.pubsub_kms_key_name != "" ? 1 : 0

  crypto_key_id = var.pubsub_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}
