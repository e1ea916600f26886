variable "db_host" {
  type = string
}

variable "db_port" {
  type    = number
  default = 1
}
