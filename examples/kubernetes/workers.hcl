# Checks for workers only: the way from this node to the control plane,
# through the API servers' load balancer.

check "tcp" "apiserver_endpoint" {
  only_on = { role = "worker" }
  address = var.apiserver_endpoint

  threshold "latency_ms" {
    warn = 50
    crit = 500
  }
}

check "http" "apiserver_via_lb" {
  only_on    = { role = "worker" }
  url        = "https://${var.apiserver_endpoint}/readyz"
  depends_on = [check.tcp.apiserver_endpoint]
  tls {
    ca_file = "${var.pki}/ca.crt"
  }

  threshold "latency_ms" {
    warn = 250
    crit = 1000
  }

  threshold "tls_expires_in_days" {
    warn      = 30
    crit      = 7
    direction = "below"
  }

  assert {
    condition     = result.body == "ok"
    error_message = "the API server said ${result.body} through ${var.apiserver_endpoint}"
  }
}
