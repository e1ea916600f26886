# Container smoke tests, run through the node's containerd with the probe
# image satellite ships (docs/probe-image.md), on every node. They show what
# the other checks cannot: that containerd actually starts containers, that
# containers sharing a network reach each other, and that cluster DNS answers
# from inside a container.

variable "probe_image" {
  type        = string
  default     = "registry.internal/satellite/probe:1.2"
  description = "The probe image, pushed to a registry every node can pull from (pulled once, outside the checks' timeouts)."
}

variable "cluster_dns" {
  type        = string
  default     = "10.96.0.10:53"
  description = "host:port of the cluster's DNS service (kube-dns), as kubelet's clusterDNS says."
}

# Two containers in one network namespace of their own, as two containers of
# a pod: the server must accept before the client starts, and the client
# must get an answer.
check "container" "pod_to_pod" {
  interval   = "5m"
  timeout    = "1m"
  depends_on = [check.systemd.node_services]

  container "server" {
    image   = var.probe_image
    command = ["/probe", "serve", "--listen", "127.0.0.1:8080"]
    ready   = "tcp://127.0.0.1:8080"
    memory  = "32MiB"
  }

  container "client" {
    image         = var.probe_image
    command       = ["/probe", "get", "http://127.0.0.1:8080/"]
    expect_exit   = 0
    expect_output = "200 OK"
    memory        = "32MiB"
  }
}

# Cluster DNS from inside a container: the name of the API server's service
# resolves through kube-dns. The container uses the node's network, where the
# service address is routed.
check "container" "dns_inside" {
  interval      = "5m"
  timeout       = "30s"
  depends_on    = [check.systemd.node_services]
  image         = var.probe_image
  command       = ["/probe", "dns", "kubernetes.default.svc.cluster.local", "--server", var.cluster_dns]
  network       = "host"
  expect_exit   = 0
  expect_output = "Address: "
  memory        = "32MiB"
  cpus          = 0.5
}
