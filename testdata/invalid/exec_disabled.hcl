check "exec" "ntp" { # error: Exec checks are not enabled
  command = ["/usr/lib/nagios/plugins/check_ntp_time", "-H", "127.0.0.1"]
}
