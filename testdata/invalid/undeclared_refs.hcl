sink "sqlite" "archive" {
  path = "/tmp/archive.db"
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}

check "http" "api" {
  url        = "http://127.0.0.1:8080/"
  depends_on = [check.tcp.ectd] # error: Reference to undeclared check | Did you mean "check.tcp.etcd"?
  sinks      = [sink.sqlite.archiv] # error: Reference to undeclared sink | Did you mean "sink.sqlite.archive"?
}

check "http" "single" {
  url        = "http://127.0.0.1:8080/"
  depends_on = [check.tcp.etcd["a"]] # error: Index into a single check
}
