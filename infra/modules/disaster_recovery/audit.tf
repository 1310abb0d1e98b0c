# Who read or wrote backup data: Cloud Storage data-access audit logs.
#
# The guide asks for all access to backup data to be logged. Audit logging is
# configured per service and project, so this covers every bucket of the DR
# project: the backup and state buckets (and the function-source and
# access-log buckets, which hold nothing else). DATA_READ and DATA_WRITE
# record each object read, listing and write with the caller's identity;
# ADMIN_READ records reads of bucket metadata and IAM policies. The entries
# go to the _Default log bucket (30 days) as
# logs/cloudaudit.googleapis.com%2Fdata_access; the README shows the query.
# Nobody is exempted: the product's own service accounts are callers too.
#
# This resource owns the project's own audit configuration of
# storage.googleapis.com; audit configurations set on the folder or the
# organization still add to it.

resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"

  dynamic "audit_log_config" {
    for_each = toset(["ADMIN_READ", "DATA_READ", "DATA_WRITE"])
    content {
      log_type = audit_log_config.value
    }
  }
}
