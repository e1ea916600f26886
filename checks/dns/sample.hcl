# The cluster's DNS server resolves the API server's name to its address,
# within 100 ms.
check "dns" "apiserver" {
  interval = "30s"
  timeout  = "2s"

  name   = "api.cluster.internal"
  server = "10.96.0.10"
  expect = ["10.0.0.5"]

  threshold "latency_ms" {
    warn = 100
    crit = 1000
  }
}

# etcd's peers are published as SRV records, one per member, asked of the
# nameservers in /etc/resolv.conf.
check "dns" "etcd_peers" {
  name        = "_etcd-server-ssl._tcp.cluster.internal"
  record_type = "SRV"
  expect      = ["etcd-1.cluster.internal:2380", "etcd-2.cluster.internal:2380"]

  threshold "answers" {
    warn      = 3
    crit      = 2
    direction = "below"
  }
}

# A TXT record over TCP, read by an assert.
check "dns" "spf" {
  name        = "example.internal"
  record_type = "TXT"
  server      = "127.0.0.1:5353"
  protocol    = "tcp"

  assert {
    condition     = length([for t in result.answers : t if can(regex("^v=spf1 ", t))]) == 1
    error_message = "want one SPF record, got ${jsonencode(result.answers)}"
  }
}
