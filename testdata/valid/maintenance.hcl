# Maintenance windows: alerts of matching checks are held during them.
# tags: role=worker,zone=eu-1
variable "maintenance_zone" {
  type    = string
  default = "Europe/Berlin"
}

locals {
  nightly = "2h"
  kernel  = ["disk.*", "systemd.kubelet"]
}

check "disk" "root" {
  path = "/"
}

check "disk" "mount" {
  for_each = toset(["/var/lib/containerd", "/var/log"])
  path     = each.key
}

check "systemd" "kubelet" {
  units = ["kubelet.service"]
}

check "http" "api" {
  for_each = { a = "http://127.0.0.1:8080/", b = "http://127.0.0.1:8081/" }
  url      = each.value
}

# Every option, through a variable and locals.
maintenance "kernel-updates" {
  schedule = "0 2 * * SUN"
  duration = local.nightly
  timezone = var.maintenance_zone
  only_on  = { role = "worker" }
  checks   = local.kernel
}

# Descriptors, the default timezone (UTC) and checks (every check); a 24h
# window is allowed.
maintenance "all-day" {
  schedule = "@daily"
  duration = "24h"
}

# Patterns, one instance of a for_each check, a window for other nodes.
maintenance "api-a" {
  schedule = "30 4 1 * *"
  duration = 1800 # seconds
  timezone = "America/New_York"
  only_on  = { role = "master" }
  checks = [
    "http.api\\[\"a\"\\]",
    "disk.mount*",
    "systemd.kub?let",
  ]
}

maintenance "warned" {
  schedule = "@weekly"
  duration = "1h"
  only_on  = {} # warning: Empty only_on | matches every node
  checks = [
    "disk.*",
    "dsik.*", # warning: Pattern matches no check | Did you mean
    "http.api[\"a\"]", # warning: Pattern matches no check | escape the brackets
  ]
}

maintenance "nothing" {
  schedule = "@monthly"
  duration = "3h"
  checks   = [] # warning: Empty checks | holds nothing
}
