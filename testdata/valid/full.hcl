# Every top-level block, variables with validation, locals in any order,
# for_each over sets and maps, and references into for_each instances.
variable "ports" {
  type = map(number)
  default = {
    kubelet = 10250
    etcd    = 2379
  }
}

variable "token" {
  type      = string
  default   = "s3cr3t-value"
  sensitive = true
}

variable "settings" {
  type = object({
    interval = string
    warn_ms  = optional(number, 250)
  })
  default = { interval = "20s" }
}

locals {
  url      = "${local.base}/healthz"
  base     = "http://127.0.0.1:${local.api_port}"
  api_port = 8080
  secs     = duration("1m30s") + 10
}

agent {
  name              = "node-1"
  data_dir          = "/tmp/satellite-test"
  tags              = { role = "master", zone = "eu-1" }
  enable_exec       = false
  max_concurrent    = 8
  history           = true
  history_retention = "72h"
}

mesh {
  bind             = "127.0.0.1:7946"
  advertise        = "127.0.0.1:7946"
  peer_port        = 7947
  join             = ["127.0.0.1:7956"]
  retry_join       = ["127.0.0.1:7966"]
  retry_interval   = "10s"
  encrypt_key_file = "/etc/satellite/gossip.key"
}

api {
  listen          = "127.0.0.1:7575"
  token_file      = "/etc/satellite/api.token"
  read_token_file = "/etc/satellite/api-read.token"
  tls {
    cert_file      = "/etc/satellite/tls/agent.crt"
    key_file       = "/etc/satellite/tls/agent.key"
    client_ca_file = "/etc/satellite/tls/ca.crt"
  }
}

defaults {
  interval                 = var.settings.interval
  failures_before_critical = 2
  successes_before_passing = 2
  labels                   = { team = "platform" }
}

sink "sqlite" "archive" {
  path           = "/tmp/satellite-archive.db"
  retention      = "720h"
  send           = "changes"
  batch_size     = 500
  flush_interval = "2s"
  spool_max      = "64MiB"
}

check "tcp" "port" {
  for_each = var.ports
  address  = "127.0.0.1:${each.value}"
  labels   = { component = each.key }
}

check "http" "component" {
  for_each   = toset(["kubelet", "etcd"])
  url        = "${local.base}/${each.key}"
  headers    = { Authorization = "Bearer ${var.token}" }
  depends_on = [check.tcp.port["kubelet"]]
  timeout    = "${local.secs / 10}s"
}

check "http" "apiserver" {
  url        = local.url
  only_on    = { role = "master" }
  depends_on = [check.tcp.port]
  sinks      = [sink.sqlite.archive]

  threshold "latency_ms" {
    warn = var.settings.warn_ms
    crit = 1000
  }

  threshold "tls_expires_in_days" {
    warn      = 30
    crit      = 7
    direction = "below"
  }

  assert {
    condition     = result.status_code == 200 && try(result.json.status, "") == "ok"
    error_message = "apiserver said ${result.body}"
  }
}
