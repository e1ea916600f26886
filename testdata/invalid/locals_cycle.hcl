locals {
  a = "${local.c}-a" # error: Cycle among locals | local.a → local.c → local.b → local.a
  b = local.a
}

locals {
  c = local.b
  d = local.nope # error: Unsupported attribute
}
