# State lives in a GCS bucket of your choosing (versioned, not one of the DR
# buckets), given at init time as a partial configuration; the prefix is fixed
# here so that this directory can only ever address the dev state:
#
#   terraform init -backend-config="bucket=<terraform-state-bucket>"
#
# The same bucket can hold every environment's state; each uses its own prefix.
terraform {
  backend "gcs" {
    prefix = "eyewearml-dr/dev"
  }
}
