check "http" "api" {
  url = "http://127.0.0.1:8080/"

  threshold "latency_ms" {
    warn = 1000 # error: warn on the wrong side of crit | direction "above"
    crit = 250
  }

  threshold "tls_expires_in_days" {
    warn      = 7 # error: warn on the wrong side of crit | direction "below"
    crit      = 30
    direction = "below"
  }
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  threshold "latency_ms" {
    warn      = 10
    direction = "sideways" # error: Invalid direction
  }
  threshold "latency_ms" { # error: Duplicate threshold
    crit = 10
  }
}
