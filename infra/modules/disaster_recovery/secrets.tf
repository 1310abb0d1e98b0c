# Secret Manager secrets, created EMPTY. Their values are added out of band
# (`gcloud secrets versions add`, see the README), never through Terraform:
# a google_secret_manager_secret_version with data would put the value in the
# state file. Only the secret's name reaches the functions and the job.

locals {
  # Created only when something uses them: a reference to a secret without
  # a version would fail every run that loads its settings.
  secrets = {
    mongodb_uri = {
      secret_id = var.mongodb_uri_secret_id
      purpose   = "mongodb-uri"
      enabled   = true
    }
    smtp_password = {
      secret_id = var.smtp_password_secret_id
      purpose   = "smtp-password"
      enabled   = var.smtp_username != ""
    }
    notify_webhook = {
      secret_id = var.notify_webhook_secret_id
      purpose   = "notify-webhook"
      enabled   = var.enable_notify_webhook
    }
  }

  # projects/P/secrets/NAME/versions/latest, the form the product resolves.
  secret_refs = {
    for key, secret in local.secrets :
    key => "projects/${var.project_id}/secrets/${secret.secret_id}/versions/latest" if secret.enabled
  }

  # The keyring reads versions itself, so it is given the secret, not a version.
  encryption_key_secret = "projects/${var.project_id}/secrets/${var.encryption_key_secret_id}"
}

resource "google_secret_manager_secret" "this" {
  for_each = { for key, secret in local.secrets : key => secret if secret.enabled }

  project   = var.project_id
  secret_id = each.value.secret_id
  labels    = merge(local.labels, { purpose = each.value.purpose })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Every version of this secret is a key that encrypted some backup; deleting
# the secret makes those backups unreadable, so Terraform refuses to. Rotate
# by adding a version; never disable or destroy a version while a backup
# encrypted with it is kept.
resource "google_secret_manager_secret" "encryption_key" {
  project   = var.project_id
  secret_id = var.encryption_key_secret_id
  labels    = merge(local.labels, { purpose = "backup-encryption-key" })

  replication {
    auto {}
  }

  lifecycle {
    prevent_destroy = true
  }

  depends_on = [google_project_service.this]
}
