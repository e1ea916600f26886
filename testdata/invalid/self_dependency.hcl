# A for_each check that depends on its own block: every instance would wait
# for every other. One error, not one per pair of instances.
check "tcp" "many" {
  for_each   = { for i in range(500) : tostring(i) => i }
  address    = "127.0.0.1:${each.value + 1000}"
  depends_on = [check.tcp.many] # error: Dependency cycle | every instance of a for_each check
}
