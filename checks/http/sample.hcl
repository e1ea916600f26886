# The Kubernetes API server answers its health endpoint, over TLS with the
# cluster CA, within 250 ms.
check "http" "apiserver" {
  interval = "10s"
  timeout  = "3s"

  url = "https://127.0.0.1:6443/healthz"
  tls {
    ca_file     = "/etc/kubernetes/pki/ca.crt"
    cert_file   = "/etc/kubernetes/pki/apiserver-kubelet-client.crt"
    key_file    = "/etc/kubernetes/pki/apiserver-kubelet-client.key"
    server_name = "kubernetes"
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
    error_message = "apiserver said ${result.body}"
  }
}

# A JSON health endpoint: any 2xx, no redirects, and the body must say so.
check "http" "app" {
  url              = "http://127.0.0.1:8080/health"
  method           = "GET"
  headers          = { Accept = "application/json" }
  expect_status    = ["2xx"]
  follow_redirects = false

  assert {
    condition     = try(result.json.status, "") == "ok"
    error_message = "app health is ${try(result.json.status, "unknown")}"
  }
}

# The Docker daemon, through its Unix socket.
check "http" "docker" {
  url         = "http://docker/_ping"
  unix_socket = "/run/docker.sock"
}
