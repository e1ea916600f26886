# A template for directive that repeats a large string.
locals {
  l0 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  l1 = join("", [for i in range(1000) : local.l0])
  l2 = "%{ for i in range(1000) }${local.l1}%{ endfor }" # error: Over the limit max_value_bytes
}
