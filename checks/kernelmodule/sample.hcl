# The modules a Kubernetes node needs for container file systems and for
# bridged pod traffic through iptables.
check "kernel_module" "kubernetes" {
  interval = "5m"
  modules  = ["overlay", "br_netfilter"]
}

# IPVS, on the nodes whose kube-proxy uses it. "ip_vs" and "ip-vs" are the
# same module.
check "kernel_module" "ipvs" {
  only_on = { kube_proxy_mode = "ipvs" }
  modules = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"]
}
