# Sensitive values in labels, agent tags and the agent name.
variable "secret" {
  type      = string
  default   = "hunter2-hunter2"
  sensitive = true
}

agent {
  name = "n-${var.secret}" # error: Sensitive value not allowed | agent name
  tags = { t = var.secret } # error: Sensitive value not allowed | agent tags
}

check "tcp" "db" {
  address = "127.0.0.1:1"
  labels  = { tok = var.secret } # error: Sensitive value not allowed | labels
  assert {
    condition     = result.latency_ms < 100
    error_message = "bad ${var.secret}" # error: Sensitive value not allowed | error_message
  }
}
