# The API server's certificate: trusted by the cluster CA, issued for the
# name clients use, and more than 30 days from expiry.
check "tls" "apiserver" {
  interval = "1h"

  address     = "127.0.0.1:6443"
  server_name = "kubernetes.default.svc"
  ca_file     = "/etc/kubernetes/pki/ca.crt"

  threshold "expires_in_days" {
    warn      = 30
    crit      = 7
    direction = "below"
  }
}

# etcd's peer certificate on disk, before etcd has loaded it: it must chain
# to the etcd CA and carry this node's name.
check "tls" "etcd_peer_cert" {
  interval = "6h"

  file    = "/etc/etcd/pki/peer.crt"
  ca_file = "/etc/etcd/pki/ca.crt"

  assert {
    condition     = contains(result.dns_names, "${node.name}.internal")
    error_message = "the peer certificate is for ${join(", ", result.dns_names)}, not ${node.name}.internal"
  }
}

# A self-signed BMC certificate: nothing to verify it against, but its
# expiry still matters.
check "tls" "bmc" {
  interval = "1h"

  address = "10.0.0.50:443"
  verify  = false

  threshold "expires_in_days" {
    warn      = 14
    crit      = 3
    direction = "below"
  }
}
