# Checks for every node, master or worker: no only_on.

# The kubelet and the container runtime run. A unit that is starting, or
# waiting to restart after a crash, is a warning; failed or stopped is
# critical.
check "systemd" "node_services" {
  units = ["kubelet.service", "containerd.service"]
}

# No unit on the node has failed.
check "systemd" "no_failed_units" {
  interval = "1m"
  ignore   = ["systemd-networkd-wait-online.service"]
}

# The kubelet's own health endpoint: plain HTTP, on loopback only.
check "http" "kubelet" {
  url        = "http://127.0.0.1:10248/healthz"
  depends_on = [check.systemd.node_services]

  threshold "latency_ms" {
    warn = 100
    crit = 1000
  }

  assert {
    condition     = result.body == "ok"
    error_message = "kubelet healthz said ${result.body}"
  }
}

# The kubelet's API, which the API server calls for logs, exec and metrics.
check "tcp" "kubelet_api" {
  address    = "127.0.0.1:10250"
  depends_on = [check.systemd.node_services]
}
