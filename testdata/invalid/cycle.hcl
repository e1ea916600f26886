check "tcp" "a" {
  address    = "127.0.0.1:1"
  depends_on = [check.tcp.b] # error: Dependency cycle | tcp.a → tcp.b → tcp.c → tcp.a
}

check "tcp" "b" {
  address    = "127.0.0.1:2"
  depends_on = [check.tcp.c]
}

check "tcp" "c" {
  address    = "127.0.0.1:3"
  depends_on = [check.tcp.a]
}

check "tcp" "self" {
  address    = "127.0.0.1:4"
  depends_on = [check.tcp.self] # error: Dependency cycle | tcp.self → tcp.self
}
