# Warnings do not make a config invalid.
check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  only_on = { role = "master" }
}

check "http" "scheduler" {
  url        = "http://127.0.0.1:10259/healthz"
  depends_on = [check.tcp.etcd] # warning: Dependency may not run here | role = "master"
}

check "tcp" "anywhere" {
  address = "127.0.0.1:1"
  only_on = {} # warning: Empty only_on
}
