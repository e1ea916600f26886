# etcd's data directory makes a small write durable fast enough for etcd:
# its WAL waits for an fdatasync on every commit, and etcd's guidance is a
# WAL fsync p99 under 10 ms.
check "disk_latency" "etcd" {
  interval = "1m"
  path     = "/var/lib/etcd"

  threshold "fsync_p99_ms" {
    warn = 10
    crit = 50
  }
}

# More samples, the size of a typical etcd WAL entry (as in etcd's fio
# recipe), and the read latency too.
check "disk_latency" "data" {
  interval = "5m"
  timeout  = "30s"
  path     = "/srv/data"
  samples  = 100
  size     = 2300
  read     = true

  threshold "fsync_max_ms" {
    crit = 1000
  }

  threshold "read_p99_ms" {
    warn = 20
  }
}
