# limits take literal whole numbers, and only the known names.
variable "n" {
  default = 10
}

agent {
  limits {
    max_depth  = var.n # error: Invalid limit
    max_checks = 0 # error: Invalid limit
    max_dpeth  = 10 # error: Unsupported limit | max_depth
  }
}
