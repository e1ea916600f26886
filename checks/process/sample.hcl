# nginx is running: its master and at least one worker, and not a crowd.
check "process" "nginx" {
  interval = "30s"
  name     = "nginx"
  min      = 2
  max      = 64
}

# Exactly one kubelet, found by its command line.
check "process" "kubelet" {
  only_on = { role = "worker" }
  pattern = "^/usr/bin/kubelet( |$)"
  min     = 1
  max     = 1

  assert {
    condition     = length(result.pids) == 1
    error_message = "kubelet runs as pids ${join(", ", result.pids)}"
  }
}

# A process that must not run on this node.
check "process" "no_debug_shell" {
  pattern = "socat .*EXEC:/bin/sh"
  min     = 0
  max     = 0
}
