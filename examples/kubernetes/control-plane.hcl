# Checks for masters only: etcd and the control plane, which kubeadm runs as
# static pods. Each endpoint is checked on this node's own instance.

# etcd's checks are in etcd.hcl.

# The API server's liveness and readiness, anonymous (kubeadm allows both).
# Its certificate names "kubernetes", not 127.0.0.1.
check "http" "apiserver" {
  for_each   = toset(["livez", "readyz"])
  only_on    = { role = "master" }
  url        = "https://127.0.0.1:6443/${each.key}"
  depends_on = [check.http.etcd]
  tls {
    ca_file     = "${var.pki}/ca.crt"
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
    error_message = "apiserver /${each.key} said ${result.body}"
  }
}

# The scheduler and the controller manager serve /healthz on their secure
# ports. These checks expect them to serve certificates from the cluster CA
# for 127.0.0.1 (--tls-cert-file and --tls-private-key-file): by default
# each makes a self-signed one at start, which nothing can verify.
check "http" "scheduler" {
  only_on    = { role = "master" }
  url        = "https://127.0.0.1:10259/healthz"
  depends_on = [check.http.apiserver["livez"]]
  tls {
    ca_file = "${var.pki}/ca.crt"
  }

  threshold "latency_ms" {
    warn = 250
    crit = 1000
  }

  assert {
    condition     = result.body == "ok"
    error_message = "kube-scheduler healthz said ${result.body}"
  }
}

check "http" "controller_manager" {
  only_on    = { role = "master" }
  url        = "https://127.0.0.1:10257/healthz"
  depends_on = [check.http.apiserver["livez"]]
  tls {
    ca_file = "${var.pki}/ca.crt"
  }

  threshold "latency_ms" {
    warn = 250
    crit = 1000
  }

  assert {
    condition     = result.body == "ok"
    error_message = "kube-controller-manager healthz said ${result.body}"
  }
}
