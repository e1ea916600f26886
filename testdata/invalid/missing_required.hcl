check "tcp" "etcd" { # error: Missing required argument | "address" is required
  interval = "10s"
}
