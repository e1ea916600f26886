notifier "webhook" "ops" {
  url          = "http://127.0.0.1:9/hook"
  min_severity = "info" # error: Invalid min_severity | "warning" or "critical"
  group_wait   = "20m" # error: Invalid group_wait
}

notifier "webhook" "ops" { # error: Duplicate notifier | already declared
  url = "http://127.0.0.1:9/other"
}

notifier "webhok" "typo" { # error: Unknown notifier type | Did you mean "webhook"?
  url = "http://127.0.0.1:9/hook"
}

notifier "webhook" "nourl" { # error: Missing url
}

notifier "webhook" "badurl" {
  url = "ftp://token@example/hook" # error: Invalid url | absolute http:// or https://
}

notifier "webhook" "both" {
  secret      = "s"
  secret_file = "/nonexistent" # error: Conflicting attributes
  url         = "http://127.0.0.1:9/hook"
  headers     = { "Content-Type" = "text/plain" } # error: Reserved header
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  notify  = [notifier.webhook.opz] # error: Reference to undeclared notifier | Did you mean "notifier.webhook.ops"?
}

check "tcp" "other" {
  address = "127.0.0.1:2379"
  notify  = [sink.webhook.ops] # error: Invalid notifier reference | notifier.slack.ops
}

check "tcp" "routed" {
  address = "127.0.0.1:2379"
  notify  = [notifier.webhook.ops, notifier.webhook.nourl, notifier.webhook.badurl, notifier.webhook.both]
}

mesh {
  notify          = [notifier.webhook.nope] # error: Reference to undeclared notifier | notifier.webhook.nope
  rollout_timeout = "10s" # error: Invalid rollout_timeout
}
