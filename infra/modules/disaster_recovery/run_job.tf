# The MongoDB Cloud Run job: one image for backups and restores, started by
# the dr-mongodb-backup and dr-restore functions with per-execution overrides
# (tier, restore request). A dump may run for hours, past any function
# timeout, which is why it is a job.
#
# The image is built from functions/mongodb_job/ by
# functions/mongodb_job/cloudbuild.yaml and pushed to the repository below as
# mongodb-job:<mongodb_job_image_tag>. A first deployment therefore applies in
# two phases (infra/README.md): the repository and the build's grants first,
# then the build, then everything. The tag is resolved to a digest at plan
# time; a plan before the image exists fails naming the missing image.

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Holds only images built from this repository's public source (the job and the functions); backups and keys never enter it.
  project       = var.project_id
  location      = var.region
  repository_id = "eyewearml-dr"
  format        = "DOCKER"
  description   = "Images of the EyewearML DR job and functions."
  labels        = local.labels

  depends_on = [google_project_service.this]
}

data "google_artifact_registry_docker_image" "mongodb_job" {
  project       = var.project_id
  location      = google_artifact_registry_repository.images.location
  repository_id = google_artifact_registry_repository.images.repository_id
  image_name    = "${local.mongodb_job_image_name}:${var.mongodb_job_image_tag}"
}

resource "google_cloud_run_v2_job" "mongodb" {
  project             = var.project_id
  location            = var.region
  name                = local.mongodb_job_name
  labels              = local.labels
  deletion_protection = var.deletion_protection

  template {
    task_count  = 1
    parallelism = 1
    labels      = local.labels

    template {
      service_account       = google_service_account.runtime["mongodb-job"].email
      timeout               = "${var.mongodb_job_timeout_seconds}s"
      max_retries           = var.mongodb_job_max_retries
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

      containers {
        # LOCATION-docker.pkg.dev/P/REPO/mongodb-job@sha256:DIGEST
        image   = data.google_artifact_registry_docker_image.mongodb_job.self_link
        command = ["python"]
        args    = ["-m", "shared.mongodb.job"]

        resources {
          limits = {
            cpu    = var.mongodb_job_cpu
            memory = var.mongodb_job_memory
          }
        }

        # Cloud Run resolves the URI from Secret Manager when an execution
        # starts; it is never in Terraform state or the job's configuration.
        env {
          name = "MONGODB_URI"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.this["mongodb_uri"].secret_id
              version = "latest"
            }
          }
        }

        dynamic "env" {
          for_each = local.env_by_account["mongodb-job"]
          content {
            name  = env.key
            value = env.value
          }
        }
      }

      # Either Direct VPC egress into the static-egress subnet (network.tf)
      # or the given connector, or neither (public egress).
      dynamic "vpc_access" {
        for_each = local.mongodb_vpc_access
        content {
          connector = vpc_access.value.connector
          egress    = vpc_access.value.egress

          dynamic "network_interfaces" {
            for_each = vpc_access.value.subnetwork == null ? [] : [vpc_access.value]
            content {
              network    = network_interfaces.value.network
              subnetwork = network_interfaces.value.subnetwork
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.job_mongodb_uri,
  ]
}

locals {
  mongodb_job_image_name = "mongodb-job"
  mongodb_job_name       = "dr-mongodb"
  mongodb_job_id         = "projects/${var.project_id}/locations/${var.region}/jobs/${local.mongodb_job_name}"
}
