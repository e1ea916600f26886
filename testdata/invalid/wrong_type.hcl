check "http" "api" {
  url     = "http://127.0.0.1:8080/"
  headers = ["Accept"] # error: Incorrect attribute value type
  labels  = "platform" # error: Incorrect attribute value type
}

check "tcp" "etcd" {
  address                  = "127.0.0.1:2379"
  failures_before_critical = 1.5 # error: Invalid number
}
