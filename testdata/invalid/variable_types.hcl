# var: replicas=three
variable "port" {
  type    = number
  default = "eighty" # error: Invalid default value for variable | not of type number
}

variable "replicas" { # error: Invalid value for variable | not of type number
  type = number
}

variable "required" { # error: No value for required variable
  type = string
}

variable "zone" {
  type    = string
  default = "moon-1"
  validation {
    condition     = startswith(var.zone, "eu-") # error: Call to unknown function
    error_message = "zone must be in the EU."
  }
}
