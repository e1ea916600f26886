check "tcp" "port" {
  for_each = { kubelet = "127.0.0.1:10250", etcd = "127.0.0.1:2379" }
  address  = each.value
}

check "http" "health" {
  for_each   = toset(["kubelet", "etcd"])
  url        = "http://127.0.0.1:8080/${each.key}"
  depends_on = [check.tcp.port[each.key]] # error: Computed index in depends_on
}

check "http" "wrong_key" {
  url        = "http://127.0.0.1:8080/"
  depends_on = [check.tcp.port["kubelett"]] # error: Reference to undeclared check | Did you mean "kubelet"?
}

check "tcp" "listy" {
  for_each = ["a", "b"] # error: Invalid for_each | toset
  address  = "127.0.0.1:1"
}
