# etcd accepts connections on its client port, within 50 ms.
check "tcp" "etcd" {
  interval = "15s"
  address  = "127.0.0.1:2379"

  threshold "latency_ms" {
    warn = 50
    crit = 500
  }
}

# The kubelet's port, on every node tagged as a worker.
check "tcp" "kubelet" {
  only_on = { role = "worker" }
  address = "localhost:10250"
}
