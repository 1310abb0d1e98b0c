# The old crontab, as Cloud Scheduler jobs that publish the backup messages
# the functions validate: the JSON {"tier": "..."} for a backup, {} for the
# Firestore completion check and the freshness check, {"action": "start"} for
# a recovery drill and {} for its follow-up. Keys are the jobs' names after "dr-".

locals {
  schedules = {
    mongodb-hourly     = { topic = "dr-mongodb-backup", schedule = var.mongodb_hourly_schedule, message = "{\"tier\":\"hourly\"}", enabled = var.enable_hourly }
    mongodb-daily      = { topic = "dr-mongodb-backup", schedule = var.mongodb_daily_schedule, message = "{\"tier\":\"daily\"}", enabled = true }
    mongodb-weekly     = { topic = "dr-mongodb-backup", schedule = var.mongodb_weekly_schedule, message = "{\"tier\":\"weekly\"}", enabled = true }
    mongodb-monthly    = { topic = "dr-mongodb-backup", schedule = var.mongodb_monthly_schedule, message = "{\"tier\":\"monthly\"}", enabled = true }
    firestore-daily    = { topic = "dr-firestore-backup", schedule = var.firestore_backup_schedule, message = "{\"tier\":\"daily\"}", enabled = true }
    firestore-complete = { topic = "dr-firestore-complete", schedule = var.firestore_complete_schedule, message = "{}", enabled = true }
    gcs-daily          = { topic = "dr-gcs-backup", schedule = var.gcs_backup_schedule, message = "{\"tier\":\"daily\"}", enabled = true }
    freshness          = { topic = "dr-freshness", schedule = var.freshness_schedule, message = "{}", enabled = true }
    drill              = { topic = "dr-drill", schedule = var.drill_schedule, message = "{\"action\":\"start\"}", enabled = var.drill_schedule != "" }
    drill-advance      = { topic = "dr-drill", schedule = var.drill_advance_schedule, message = "{}", enabled = var.drill_schedule != "" }
  }
}

resource "google_cloud_scheduler_job" "this" {
  for_each = { for key, job in local.schedules : key => job if job.enabled }

  project     = var.project_id
  region      = var.region
  name        = "dr-${each.key}"
  description = "Publishes ${each.value.message} to ${each.value.topic}."
  schedule    = each.value.schedule
  time_zone   = var.schedule_time_zone

  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
  }

  pubsub_target {
    topic_name = google_pubsub_topic.this[each.value.topic].id
    data       = base64encode(each.value.message)
  }

  depends_on = [google_project_service.this]
}
