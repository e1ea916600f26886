check "tcp" "etcd" {
  address  = "127.0.0.1:2379"
  interval = "10 seconds" # error: Invalid duration | "10 seconds" is not a duration
}

check "tcp" "kubelet" {
  address  = "127.0.0.1:10250"
  interval = "500ms" # error: Interval too short
}
