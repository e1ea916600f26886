# This node sees at least two other alive members of its mesh, none of them
# further than 50 ms away (a warning) or 200 ms (critical); one failed member
# is a warning, two are critical.
check "peers" "mesh" {
  interval  = "30s"
  min_alive = 2

  threshold "rtt_ms_max" {
    warn = 50
    crit = 200
  }

  threshold "failed" {
    warn = 0
    crit = 1
  }
}

# On the masters: every other master is alive.
check "peers" "masters" {
  only_on = { role = "master" }

  assert {
    condition     = length(result.failed_peers) == 0
    error_message = "members failed: ${join(", ", result.failed_peers)}"
  }
}
