check "http" "api" {
  url = "http://127.0.0.1:8080/"
  assert {
    condition     = result.status_cod == 200 # error: Unsupported attribute | Did you mean "status_code"?
    error_message = "bad status"
  }
  assert {
    condition = result.body # error: Invalid assert condition
  }
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  assert {
    condition     = result.latency_ms < 10
    error_message = "slow: ${result.latencyms}" # error: Unsupported attribute | Did you mean "latency_ms"?
  }
}
