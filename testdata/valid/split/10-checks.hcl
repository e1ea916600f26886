# A directory: files merged in lexical order, variables from *.auto.vars.hcl.
check "tcp" "db" {
  address = "${var.db_host}:${var.db_port}"
}
