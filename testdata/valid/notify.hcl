# Notifiers: routed by notify in defaults and per check.
variable "hook_secret" {
  type      = string
  sensitive = true
  default   = "s3cret"
}

notifier "webhook" "ops" {
  url              = "http://127.0.0.1:9/hook"
  secret           = var.hook_secret
  headers          = { "X-Team" = "ops" }
  min_severity     = "warning"
  send_on_resolved = true
  group_wait       = "5s"
  max_per_minute   = 20
  remind_every     = "4h"
}

notifier "webhook" "unused" { # warning: Notifier without routes | notifier.webhook.unused
  url = "http://127.0.0.1:9/unused"
}

defaults {
  notify = [notifier.webhook.ops]
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}

check "tcp" "quiet" {
  address = "127.0.0.1:2380"
  notify  = []
}

notifier "webhook" "cluster" {
  url = "http://127.0.0.1:9/cluster"
}

mesh {
  notify          = [notifier.webhook.cluster]
  rollout_timeout = "1h"
}
