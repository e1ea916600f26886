# This node's clock is within 50 ms of every peer's (a warning) and within
# 500 ms (critical). The peers are read within the check's timeout; one that
# does not answer in time is only missing (the peers threshold counts them).
check "clock" "drift" {
  interval  = "1m"
  timeout   = "5s"
  max_drift = "500ms"

  threshold "drift_ms_max" {
    warn = 50
    crit = 500
  }

  # At least two peers must answer for the comparison to mean something.
  threshold "peers" {
    crit      = 2
    direction = "below"
  }
}
