# A sensitive value in for_each keys would be in every check address.
variable "secret" {
  type      = string
  default   = "hunter2-hunter2"
  sensitive = true
}

check "tcp" "set" {
  for_each = toset([var.secret]) # error: Sensitive value not allowed | for_each
  address  = "127.0.0.1:1"
}

check "tcp" "map" {
  for_each = { (var.secret) = 1 } # error: Sensitive value not allowed | for_each
  address  = "127.0.0.1:1"
}

check "tcp" "values" {
  # Sensitive values (each.value) are fine.
  for_each = { a = var.secret }
  address  = "127.0.0.1:1"
}
