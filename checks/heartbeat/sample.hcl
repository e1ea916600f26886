# The nightly backup posts a heartbeat when it succeeds:
#   curl -fsS -X POST -H "Authorization: Bearer $(cat /etc/satellite/heartbeat-backup.token)" \
#     http://127.0.0.1:7575/v1/heartbeat/backup
# Critical when none came for 26 hours (a daily job, with two hours of slack);
# a warning after 25.
check "heartbeat" "backup" {
  interval   = "1m"
  within     = "26h"
  token_file = "/etc/satellite/heartbeat-backup.token"

  threshold "age_seconds" {
    warn = 90000
  }
}
