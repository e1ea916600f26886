chek "http" "api" { # error: Unsupported block type | Did you mean "check"?
  url = "http://127.0.0.1:8080/"
}

check "http" "ok" {
  url = "http://127.0.0.1:8080/"
  treshold "latency_ms" { # error: Unsupported block type | Did you mean "threshold"?
    warn = 1
  }
}
