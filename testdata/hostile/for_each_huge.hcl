# 120,000 check instances from one for_each: over max_checks.
locals {
  list = [for i in range(1000) : i]
}

check "tcp" "port" {
  for_each = toset([for p in setproduct(local.list, slice(local.list, 0, 120)) : "${p[0]}-${p[1]}"]) # error: Over the limit max_checks
  address  = "127.0.0.1:${length(each.key)}"
}
