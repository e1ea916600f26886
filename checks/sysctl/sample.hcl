# What Kubernetes needs of a node's kernel: packet forwarding, bridged traffic
# through iptables, and a wide range of ephemeral ports.
check "sysctl" "kubernetes" {
  interval = "5m"
  values = {
    "net.ipv4.ip_forward"                 = "1"
    "net.bridge.bridge-nf-call-iptables"  = "1"
    "net.bridge.bridge-nf-call-ip6tables" = "1"
    "net.ipv4.ip_local_port_range"        = "1024 65000" # the kernel writes a tab; any whitespace matches
  }
}

# Per-interface parameters: a dot inside an interface name is written "/",
# as sysctl(8) does (eth0.100 is "eth0/100").
check "sysctl" "rp_filter" {
  values = {
    "net.ipv4.conf.all.rp_filter"      = 2
    "net.ipv4.conf.eth0/100.rp_filter" = 2
  }
}
