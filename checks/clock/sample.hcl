# This node's clock is within 100 ms of every peer's (a warning) and within
# 500 ms (critical). The query waits up to the check's timeout for answers.
check "clock" "drift" {
  interval  = "1m"
  timeout   = "5s"
  max_drift = "500ms"

  threshold "drift_ms_max" {
    warn = 100
    crit = 500
  }

  # At least two peers must answer for the comparison to mean something.
  threshold "peers" {
    crit      = 2
    direction = "below"
  }
}
