# The kubelet's kubeconfig: present, readable by root only, and pointing at
# an API server over TLS.
check "file" "kubelet_kubeconfig" {
  path     = "/etc/kubernetes/kubelet.conf"
  contains = "(?m)^\\s*server: https://"

  assert {
    condition     = result.mode == "0600"
    error_message = "kubelet.conf has mode ${result.mode}, expected 0600"
  }
}

# The nightly backup touches its stamp file when it succeeds: critical after
# two days without (max_age), a warning after one (a threshold).
check "file" "backup_stamp" {
  interval = "5m"
  path     = "/var/backups/last-success"
  max_age  = "48h"

  threshold "age_seconds" {
    warn = 86400
  }
}

# Maintenance mode is off: the flag file must not exist.
check "file" "no_maintenance_flag" {
  path   = "/etc/satellite/maintenance"
  exists = false
}
