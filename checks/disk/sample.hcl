# The root file system: warn at 80% used, critical at 90%.
check "disk" "root" {
  interval = "1m"
  path     = "/"

  threshold "used_percent" {
    warn = 80
    crit = 90
  }

  threshold "inodes_used_percent" {
    warn = 80
    crit = 95
  }
}

# At least 5 GiB left for etcd's data, on whatever file system holds it.
check "disk" "etcd_data" {
  path = "/var/lib/etcd"

  threshold "free_bytes" {
    warn      = 10737418240 # 10 GiB
    crit      = 5368709120  # 5 GiB
    direction = "below"
  }
}
