# The defaults block is decoded by the same rules as a check's own
# meta-arguments, and a value refused there is reported there, once.
defaults {
  interval                 = "500ms" # error: Interval too short | at least 1s, not 500ms
  timeout                  = 0 # error: Invalid timeout | longer than zero
  labels                   = "platform" # error: Incorrect attribute value type | a map of strings is required
  failures_before_critical = 0 # error: Invalid failures_before_critical | between 1 and 100, not 0
  sinks                    = [sink.sqlite.nope] # error: Reference to undeclared sink
  only_on                  = { role = "master" } # error: Unsupported argument
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}

check "tcp" "kubelet" {
  address  = "127.0.0.1:10250"
  interval = "2s"
  timeout  = "5s" # error: Timeout not shorter than interval | The timeout (5s) must be shorter than the interval (2s)
}
