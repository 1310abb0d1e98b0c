# Optional fixed outbound address of the MongoDB job (mongodb_static_egress_ip).
#
# MongoDB Atlas admits connections only from the addresses on its project's IP
# access list, and a Cloud Run job otherwise leaves Google from any of its
# addresses. With the option on, the job sends all of its traffic by Direct VPC
# egress (no connector instances to run) into a subnet of a network of its own,
# and Cloud NAT translates it to one reserved external address: the address to
# put on the Atlas access list (output mongodb_egress_ip). The network's only
# firewall rule denies (and logs) every inbound connection; outbound traffic
# is allowed by the network's implied rule.

locals {
  egress_name = "dr-mongodb-egress"
  egress      = var.mongodb_static_egress_ip ? toset([local.egress_name]) : toset([])

  # The job's vpc_access block (run_job.tf): Direct VPC egress with the static
  # address, else the given connector, else none.
  mongodb_vpc_access = var.mongodb_static_egress_ip ? [{
    connector  = null
    egress     = "ALL_TRAFFIC"
    network    = one([for network in google_compute_network.egress : network.id])
    subnetwork = one([for subnetwork in google_compute_subnetwork.egress : subnetwork.id])
    }] : var.mongodb_vpc_connector != "" ? [{
    connector  = var.mongodb_vpc_connector
    egress     = var.mongodb_vpc_egress
    network    = null
    subnetwork = null
  }] : []
}

resource "google_compute_network" "egress" {
  for_each = local.egress

  project                 = var.project_id
  name                    = each.key
  description             = "Outbound network of the DR MongoDB job: its traffic leaves through Cloud NAT on one reserved address."
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.this]
}

resource "google_compute_firewall" "egress_deny_ingress" {
  for_each = local.egress

  project     = var.project_id
  name        = "${each.key}-deny-ingress"
  network     = google_compute_network.egress[each.key].name
  description = "Nothing connects into the DR MongoDB job's network."
  direction   = "INGRESS"
  priority    = 1000

  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "egress" {
  for_each = local.egress

  project                  = var.project_id
  name                     = each.key
  region                   = var.region
  network                  = google_compute_network.egress[each.key].id
  ip_cidr_range            = var.mongodb_egress_subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_address" "egress" {
  for_each = local.egress

  project      = var.project_id
  name         = each.key
  region       = var.region
  address_type = "EXTERNAL"
  network_tier = "PREMIUM"
  description  = "Fixed outbound address of the DR MongoDB job, for the MongoDB Atlas IP access list."

  depends_on = [google_project_service.this]
}

resource "google_compute_router" "egress" {
  for_each = local.egress

  project = var.project_id
  name    = each.key
  region  = var.region
  network = google_compute_network.egress[each.key].id
}

resource "google_compute_router_nat" "egress" {
  for_each = local.egress

  project                            = var.project_id
  name                               = each.key
  region                             = var.region
  router                             = google_compute_router.egress[each.key].name
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = [google_compute_address.egress[each.key].self_link]
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.egress[each.key].id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
