check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}

check "tcp" "etcd" { # error: Duplicate check | two checks cannot share an address
  address = "127.0.0.1:2380"
}

sink "sqlite" "a" {
  path = "/tmp/a.db"
}

sink "sqlite" "a" { # error: Duplicate sink
  path = "/tmp/b.db"
}

agent {
  name = "one"
}

agent { # error: Duplicate agent block
  name = "two"
}
