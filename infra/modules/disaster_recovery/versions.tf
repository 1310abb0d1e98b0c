terraform {
  # The syntax stays within what Terraform 1.0 parses (no optional() attributes,
  # no preconditions, no moved/import blocks).
  required_version = ">= 1.0.3"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}
