# The agent's config in Kubernetes (deploy/kubernetes). The DaemonSet sets
# NODE_NAME (spec.nodeName), HOST_IP (status.hostIP) and SATELLITE_ROLE.
agent {
  name     = env("NODE_NAME")
  data_dir = "/var/lib/satellite" # the node's hostPath: history survives restarts
  tags     = { role = env("SATELLITE_ROLE", "node") }
}

mesh {
  bind      = "0.0.0.0:7946"
  advertise = "${env("HOST_IP")}:7946"
  # The headless Service: every agent, ready or not.
  join       = ["satellite-mesh.satellite.svc.cluster.local:7946"]
  retry_join = ["satellite-mesh.satellite.svc.cluster.local:7946"]
}

# Loopback only (the pod has the node's network): kubelet's probes reach it
# on 127.0.0.1, nothing outside the node does.
api {
  listen = "127.0.0.1:7575"
}

check "http" "agent_api" {
  url           = "http://127.0.0.1:7575/healthz"
  expect_status = [200, 503]
}
