# Exec checks run commands, so a node must allow them in its own config
# (usually the node-local file, such as /etc/satellite/node.hcl).
agent {
  enable_exec = true
}

# A Nagios plugin: exit 0 passes, 1 warns, anything else is critical, and the
# first line of its output becomes the error.
check "exec" "root_disk" {
  interval = "1m"
  timeout  = "10s"
  command  = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]
}

# A script run as an unprivileged user, with only the environment it is given.
check "exec" "backup_fresh" {
  interval = "5m"
  command  = ["/usr/local/bin/check-backup", "--max-age", "26h"]
  env      = { PATH = "/usr/bin:/bin", BACKUP_DIR = "/srv/backup" }
  dir      = "/srv/backup"
  user     = "nobody"

  threshold "duration_ms" {
    warn = 5000
    crit = 8000
  }

  assert {
    condition     = length(regexall("STALE", result.output)) == 0
    error_message = "backup is stale: ${result.output}"
  }
}
