# The EyewearML disaster-recovery system on Google Cloud.
#
# Cloud Scheduler publishes backup messages to per-target Pub/Sub topics; each
# topic pushes to one Cloud Function (2nd gen); the MongoDB dump runs as a
# Cloud Run job started by its function; restores are requested by publishing
# to dr-restore. The resources are split by concern: storage.tf, pubsub.tf,
# functions.tf, run_job.tf, network.tf, scheduler.tf, secrets.tf, iam.tf,
# operators.tf, monitoring.tf, audit.tf.

data "google_project" "this" {
  project_id = var.project_id
}

data "google_project" "firestore" {
  project_id = local.firestore_project_id
}

locals {
  labels = merge(var.labels, {
    application = "eyewearml-dr"
    environment = var.environment
    managed-by  = "terraform"
  })

  # The data project(s): where the Firestore database and the source buckets
  # live. Inputs of their own, never defaulted to the DR project.
  firestore_project_id = var.firestore_project_id
  gcs_project_id       = var.gcs_project_id

  # Google-managed service agents, named by project number. The Pub/Sub agent
  # forwards dead letters and signs push requests; the Firestore agent (of the
  # database's project) writes managed exports and reads them for imports.
  pubsub_agent    = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  firestore_agent = "serviceAccount:service-${data.google_project.firestore.number}@gcp-sa-firestore.iam.gserviceaccount.com"

  services = toset(concat(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "cloudscheduler.googleapis.com",
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    var.bucket_kms_key_name != "" || var.pubsub_kms_key_name != "" ? ["cloudkms.googleapis.com"] : [],
    var.mongodb_vpc_connector != "" && !var.mongodb_static_egress_ip ? ["vpcaccess.googleapis.com"] : [],
    var.mongodb_static_egress_ip ? ["compute.googleapis.com"] : [],
  ))
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? local.services : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
