# etcd, the cluster's memory, on masters. In 2016 a cluster looked healthy
# while etcd was failing: the network-attached disks under its data dir
# grew slow, its writes failed, SkyDNS lost it and pods crash-looped, and
# etcd "appeared running" (docs/etcd-slow-disk.md). /health alone says
# that etcd has a leader and answers a read; these checks also say how
# long its writes take, from etcd's own metrics and from the disk itself.

# etcd's own view: /health, with the client certificate kubeadm makes for
# health checks. etcd answers {"health":"true"} when it has a leader and
# its storage answers a read, which a slow disk does not stop.
check "http" "etcd" {
  only_on = { role = "master" }
  url     = "${var.etcd_endpoint}/health"
  tls {
    ca_file   = "${var.pki}/etcd/ca.crt"
    cert_file = "${var.pki}/etcd/healthcheck-client.crt"
    key_file  = "${var.pki}/etcd/healthcheck-client.key"
  }

  threshold "latency_ms" {
    warn = 250
    crit = 1000
  }

  # kubeadm's certificates last a year: renew before they lapse.
  threshold "tls_expires_in_days" {
    warn      = 30
    crit      = 7
    direction = "below"
  }

  assert {
    condition     = try(result.json.health, "") == "true"
    error_message = "etcd is unhealthy: ${result.body}"
  }
}

# What etcd says of its disk and its leader, from its /metrics. etcd's
# guidance: the WAL's fsync p99 under 10 ms, the backend's commit p99
# under 25 ms. Quantiles and increases are over the window between this
# run's scrape and the one `over` before it, as rate() would; until the
# check has scraped for that long they are unknown, not zero.
check "metrics" "etcd" {
  only_on    = { role = "master" }
  url        = "${var.etcd_endpoint}/metrics"
  depends_on = [check.http.etcd]
  tls {
    ca_file   = "${var.pki}/etcd/ca.crt"
    cert_file = "${var.pki}/etcd/healthcheck-client.crt"
    key_file  = "${var.pki}/etcd/healthcheck-client.key"
  }

  value "wal_fsync_p99_ms" {
    histogram_quantile = 0.99
    metric             = "etcd_disk_wal_fsync_duration_seconds"
    over               = "1m"
    scale              = 1000
  }
  value "backend_commit_p99_ms" {
    histogram_quantile = 0.99
    metric             = "etcd_disk_backend_commit_duration_seconds"
    over               = "1m"
    scale              = 1000
  }
  value "has_leader" { gauge = "etcd_server_has_leader" }
  value "leader_changes" {
    increase = "etcd_server_leader_changes_seen_total"
    over     = "10m"
  }
  value "proposals_failed" {
    increase = "etcd_server_proposals_failed_total"
    over     = "5m"
  }

  threshold "wal_fsync_p99_ms" {
    warn = 10
    crit = 50
  }
  threshold "backend_commit_p99_ms" {
    warn = 25
    crit = 100
  }
  threshold "has_leader" {
    crit      = 1
    direction = "below"
  }
  # A leader election now and then is normal (a member restarted); several
  # in ten minutes are not.
  threshold "leader_changes" {
    warn = 0
    crit = 3
  }
  threshold "proposals_failed" {
    warn = 0
  }
}

# The disk itself: write and fdatasync a few small blocks in etcd's data
# dir each run, as etcd's WAL does, and time them. This is the direct
# check for the 2016 failure, and it needs nothing from etcd.
check "disk_latency" "etcd" {
  only_on = { role = "master" }
  path    = var.etcd_data_dir

  threshold "fsync_p99_ms" {
    warn = 10
    crit = 50
  }
}

# The port etcd members talk to each other on.
check "tcp" "etcd_peer" {
  only_on = { role = "master" }
  address = var.etcd_peer_address
}
