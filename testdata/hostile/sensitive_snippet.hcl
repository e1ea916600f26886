# A sensitive value that fails its type check: the snippet of the error
# must not show it.
variable "pasword" {
  type      = number
  sensitive = true
  default   = "hunter2-hunter2" # error: Invalid default value for variable
}
