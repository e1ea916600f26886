check "http" "api" {
  url           = "ftp://127.0.0.1/" # error: Unsupported URL scheme
  expect_status = ["9xx"] # error: Invalid expect_status
}

check "tcp" "etcd" {
  address = "127.0.0.1" # error: Invalid address
}

sink "sqlite" "archive" {
  path      = "/tmp/archive.db"
  retention = "forever" # error: Invalid duration
  send      = "everything" # error: Invalid send
  spool_max = "lots" # error: Invalid spool_max
}

sink "sqllite" "x" { # error: Unknown sink type | Did you mean "sqlite"?
  path = "/tmp/x.db"
}
