# etcd's own view of its health, from its metrics endpoint over mutual
# TLS: the WAL fsync latency (p99 over the last minute, in milliseconds),
# leader elections in the last 10 minutes, and whether it has a leader.
check "metrics" "etcd" {
  interval = "15s"
  timeout  = "5s"

  url = "https://127.0.0.1:2379/metrics"
  tls {
    ca_file   = "/etc/kubernetes/pki/etcd/ca.crt"
    cert_file = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
    key_file  = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
  }

  value "wal_fsync_p99_ms" {
    histogram_quantile = 0.99
    metric             = "etcd_disk_wal_fsync_duration_seconds"
    over               = "1m"
    scale              = 1000
  }

  value "leader_changes" {
    increase = "etcd_server_leader_changes_seen_total"
    over     = "10m"
  }

  value "has_leader" {
    gauge = "etcd_server_has_leader"
  }

  threshold "wal_fsync_p99_ms" {
    warn = 10
    crit = 50
  }

  threshold "leader_changes" {
    warn = 1
    crit = 3
  }

  threshold "has_leader" {
    crit      = 1
    direction = "below"
  }
}

# The API server's error ratio: 5xx responses per second, and the request
# rate of LIST calls, from the metrics of one instance.
check "metrics" "apiserver" {
  interval = "30s"
  url      = "https://127.0.0.1:6443/metrics"
  headers  = { Authorization = "Bearer ${env("APISERVER_TOKEN", "")}" }
  max_body = "64MiB"
  tls {
    ca_file = "/etc/kubernetes/pki/ca.crt"
  }

  value "errors_per_second" {
    rate  = "apiserver_request_total"
    match = { code = "500" }
    over  = "5m"
  }

  value "slowest_resource_p90_s" {
    histogram_quantile = 0.9
    metric             = "apiserver_request_duration_seconds"
    match              = { verb = "LIST" }
    aggregate          = "max"
    over               = "5m"
  }

  threshold "errors_per_second" {
    warn = 0.1
    crit = 1
  }

  assert {
    condition     = try(result.slowest_resource_p90_s < 5, true)
    error_message = "LIST calls of one resource take ${result.slowest_resource_p90_s}s (p90)"
  }
}
