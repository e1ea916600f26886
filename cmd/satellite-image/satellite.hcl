# The satellite image's default config, /etc/satellite/satellite.hcl: a single
# node (no mesh), the API on loopback, one check on the agent's own API. In
# Kubernetes a ConfigMap mounted on /etc/satellite replaces this folder
# (deploy/kubernetes); elsewhere, mount your own config folder there.
agent {
  name     = env("NODE_NAME", hostname())
  data_dir = "/var/lib/satellite"
}

api {
  listen = "127.0.0.1:7575"
}

check "http" "agent_api" {
  url           = "http://127.0.0.1:7575/healthz"
  interval      = "30s"
  expect_status = [200, 503]
}
