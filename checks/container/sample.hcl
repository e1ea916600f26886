# A DNS smoke test from inside a container, with the probe image satellite
# ships (see docs/probe-image.md), pulled from a private registry when
# missing (outside the timeout).
check "container" "dns_inside" {
  interval      = "5m"
  timeout       = "30s"
  image         = "registry.internal/satellite/probe:1.2"
  command       = ["/probe", "dns", "kubernetes.default.svc.cluster.local", "--server", "10.96.0.10:53"]
  network       = "host"
  expect_exit   = 0
  expect_output = "Address:"
  memory        = "64MiB"
  cpus          = 0.5
}

# Two containers that talk to each other over the group's own network
# namespace (loopback only): the server must accept before the client starts.
check "container" "pod_to_pod" {
  interval = "5m"
  timeout  = "1m"

  container "server" {
    image_archive = "/var/lib/satellite/images/probe.tar"
    command       = ["/probe", "serve", "--listen", ":8080"]
    ready         = "tcp://127.0.0.1:8080"
  }

  container "client" {
    image_archive = "/var/lib/satellite/images/probe.tar"
    command       = ["/probe", "get", "http://127.0.0.1:8080/"]
    expect_exit   = 0
  }
}
