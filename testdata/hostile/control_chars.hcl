# Control characters in names and strings.
locals {
  s = "a\u0000b\u001b[31mred\u0007"
}
check "tcp" "ab" { # error: Invalid name
  address = "127.0.0.1:1"
}
