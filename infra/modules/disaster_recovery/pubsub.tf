# Topics, their dead-letter topics, and the push subscriptions that deliver to
# the functions.
#
# Why push subscriptions and not the functions' own event triggers: a 2nd gen
# function's event_trigger (even with retry_policy = "RETRY_POLICY_RETRY")
# makes Eventarc create and own the Pub/Sub subscription, and Terraform cannot
# give that subscription a dead_letter_policy — a message that keeps failing
# would be retried until it expires and then lost. So each function is
# deployed without an event trigger, internal-ingress only, and a
# subscription created here pushes to its URL with an OIDC token of a
# dedicated invoker account. That subscription carries the retry policy
# (exponential backoff) and the dead-letter policy; each dead-letter topic has
# a pull subscription so dead letters are kept, inspectable and replayable.
#
# The functions stay CloudEvent functions: functions-framework honours the
# @functions_framework.cloud_event decorator whatever the deployment's
# signature type, and turns a raw Pub/Sub push body into the same CloudEvent
# an Eventarc trigger would deliver. The push path /projects/P/topics/T lets
# it set the event's source to the topic, as the local stack does.

locals {
  topics = [
    "dr-gcs-backup",
    "dr-gcs-shards",
    "dr-mongodb-backup",
    "dr-firestore-backup",
    "dr-firestore-complete",
    "dr-restore",
    "dr-freshness",
    "dr-drill",
  ]

  pubsub_kms_key_name = var.pubsub_kms_key_name != "" ? var.pubsub_kms_key_name : null
}

resource "google_pubsub_topic" "this" {
  for_each = toset(local.topics)

  project      = var.project_id
  name         = each.key
  labels       = local.labels
  kms_key_name = local.pubsub_kms_key_name

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.pubsub_agent]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = toset(local.topics)

  project      = var.project_id
  name         = "${each.key}-dead-letter"
  labels       = local.labels
  kms_key_name = local.pubsub_kms_key_name

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.pubsub_agent]
}

# A dead-letter topic without a subscription drops what it receives.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = toset(local.topics)

  project                    = var.project_id
  name                       = "${each.key}-dead-letter-pull"
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.functions

  project = var.project_id
  name    = "${each.value.name}-push"
  topic   = google_pubsub_topic.this[each.value.topic].id
  labels  = local.labels

  # Longer than the function timeout (at most 540 s): a request still running
  # is never redelivered to a second instance.
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  # A restore topic may see no message for months; the default 31-day
  # inactivity expiry would silently delete its subscription.
  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.this[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.this[each.key].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.push_invoker]
}
