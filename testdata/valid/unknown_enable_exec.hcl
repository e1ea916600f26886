# flags: unknown-env
# enable_exec from the node's environment cannot be known in CI: exec checks
# get the benefit of the doubt rather than an error each.
agent {
  enable_exec = env("ALLOW_EXEC") == "1"
}

check "exec" "ntp" {
  command = ["/usr/lib/nagios/plugins/check_ntp_time", "-H", "127.0.0.1"]
}
