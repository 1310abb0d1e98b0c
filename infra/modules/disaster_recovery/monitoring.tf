# Alerts an operator acts on: something logged an ERROR, a target has had no
# successful backup for too long, messages are waiting in a dead-letter
# subscription. Notifications of individual runs are the product's own job
# (NOTIFY_EMAIL / NOTIFY_WEBHOOK); these alerts also catch the runs that never
# got as far as reporting.
#
# The success metric counts the one structured line the product logs per
# finished run (shared.reporting.send: the run report as jsonPayload.report,
# schema eyewearml.dr.run_report.v1, operation "<tier> backup"); the error
# metric counts lines at severity ERROR or above, which includes crashes and
# Cloud Run's own task-failure messages, labelled by the product's `target`
# log label.

locals {
  service_names = [for f in local.functions : "\"${f.name}\""]
  dr_logs = join(" ", [
    "(resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", local.service_names)}))",
    "OR (resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.mongodb.name}\")",
  ])

  # Where each target's success line is logged: the GCS and Firestore runs
  # finish in a function, the MongoDB run in the job.
  backup_targets = {
    gcs       = "cloud_run_revision"
    firestore = "cloud_run_revision"
    mongodb   = "cloud_run_job"
  }

  # Counters of log lines, by metric name, each labelled with the run's target.
  log_metrics = {
    dr_errors = {
      description        = "Log lines at ERROR or above from the DR functions and job."
      filter             = "(${local.dr_logs}) AND severity>=ERROR"
      target_description = "The run's target (gcs, firestore, mongodb, restore); empty for platform messages."
      target_extractor   = "EXTRACT(labels.target)"
    }
    dr_backup_succeeded = {
      description        = "Backups that finished successfully, by target."
      filter             = "(${local.dr_logs}) AND jsonPayload.report.schema=\"eyewearml.dr.run_report.v1\" AND jsonPayload.report.status=\"succeeded\" AND jsonPayload.report.operation=~\"backup$\""
      target_description = "The backed-up target (gcs, firestore, mongodb)."
      target_extractor   = "EXTRACT(jsonPayload.report.target)"
    }
  }

  alert_channels = concat([for channel in google_monitoring_notification_channel.email : channel.id], var.alert_notification_channels)
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  project      = var.project_id
  display_name = "EyewearML DR (${var.environment}) ${each.key}"
  type         = "email"
  labels = {
    email_address = each.key
  }
}

resource "google_logging_metric" "this" {
  for_each = local.log_metrics

  project     = var.project_id
  name        = each.key
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "target"
      value_type  = "STRING"
      description = each.value.target_description
    }
  }

  label_extractors = {
    target = each.value.target_extractor
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "errors" {
  project               = var.project_id
  display_name          = "EyewearML DR (${var.environment}): errors logged"
  combiner              = "OR"
  notification_channels = local.alert_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = toset(["cloud_run_revision", "cloud_run_job"])
    content {
      display_name = "ERROR logged (${conditions.key})"
      condition_threshold {
        filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["dr_errors"].name}\" AND resource.type=\"${conditions.key}\""
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "0s"

        aggregations {
          alignment_period     = "300s"
          per_series_aligner   = "ALIGN_SUM"
          cross_series_reducer = "REDUCE_SUM"
          group_by_fields      = ["metric.label.target"]
        }

        trigger {
          count = 1
        }
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A DR function or the MongoDB job logged an ERROR. Find the run in Logs Explorer with `severity>=ERROR` and the `target` label; every line of a run carries its `run_id` label."
  }
}

resource "google_monitoring_alert_policy" "backup_stale" {
  project               = var.project_id
  display_name          = "EyewearML DR (${var.environment}): no successful backup in ${var.backup_staleness_hours} h"
  combiner              = "OR"
  notification_channels = local.alert_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = local.backup_targets
    content {
      display_name = "No successful ${conditions.key} backup in ${var.backup_staleness_hours} h"
      condition_threshold {
        filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["dr_backup_succeeded"].name}\" AND resource.type=\"${conditions.value}\" AND metric.label.target=\"${conditions.key}\""
        comparison      = "COMPARISON_LT"
        threshold_value = 1
        duration        = "0s"
        # No success line at all in the window is the case this alert exists for.
        evaluation_missing_data = "EVALUATION_MISSING_DATA_ACTIVE"

        aggregations {
          alignment_period     = "${var.backup_staleness_hours * 3600}s"
          per_series_aligner   = "ALIGN_SUM"
          cross_series_reducer = "REDUCE_SUM"
        }

        trigger {
          count = 1
        }
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A target has had no successful backup in the alert's window. Check the scheduler job (`dr-*`), the target's function or the `dr-mongodb` job executions, and the errors alert."
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "EyewearML DR (${var.environment}): dead-lettered messages"
  combiner              = "OR"
  notification_channels = local.alert_channels
  user_labels           = local.labels

  conditions {
    display_name = "Messages waiting in a DR dead-letter subscription"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=one_of(${join(", ", [for s in google_pubsub_subscription.dead_letter : "\"${s.name}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.subscription_id"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "604800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A message failed every delivery and was dead-lettered. Pull it from the named `*-dead-letter-pull` subscription (`gcloud pubsub subscriptions pull ... --auto-ack=false`), fix the cause from the function's logs, and republish it to the original topic."
  }
}
