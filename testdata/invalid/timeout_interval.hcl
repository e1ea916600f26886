check "tcp" "etcd" {
  address  = "127.0.0.1:2379"
  interval = "10s"
  timeout  = "10s" # error: Timeout not shorter than interval
}

defaults {
  timeout = "1m"
}

check "tcp" "kubelet" { # error: Timeout not shorter than interval | (1m0s) must be shorter than the interval (30s)
  address = "127.0.0.1:10250"
}
