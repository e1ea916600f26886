# A for expression that repeats a 64 KB string 1,000 times: 64 MB, refused
# at max_value_bytes (16 MiB), before it is built.
locals {
  l0  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  l1  = join("", [for i in range(1000) : local.l0])
  big = [for i in range(1000) : "${local.l1}"] # error: Over the limit max_value_bytes
}
