# The kubelet and its container runtime are running. A unit that is still
# starting, or restarting after a crash, is a warning; one that has failed,
# stopped or does not exist is critical.
check "systemd" "node_services" {
  interval = "15s"
  units    = ["kubelet.service", "containerd.service"]
}

# No unit on this node has failed, apart from one that fails on hosts
# without a wait-online network.
check "systemd" "no_failed_units" {
  interval = "1m"
  ignore   = ["systemd-networkd-wait-online.service"]
}
