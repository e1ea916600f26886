check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  threshold "status_code" { # error: Unknown metric | do not report a metric "status_code"
    warn = 500
  }
  threshold "latency" { # error: Unknown metric | Did you mean "latency_ms"?
    warn = 5
  }
}
