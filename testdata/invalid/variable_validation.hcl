variable "zone" {
  type    = string
  default = "us-1" # error: Invalid value for variable | zone must be in the EU, got us-1
  validation {
    condition     = substr(var.zone, 0, 3) == "eu-"
    error_message = "zone must be in the EU, got ${var.zone}."
  }
}

variable "zone" { # error: Duplicate variable
  type = string
}
