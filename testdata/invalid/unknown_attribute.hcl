check "http" "api" {
  urll      = "http://127.0.0.1:8080/" # error: Unsupported argument | "urll" is not expected here
  url       = "http://127.0.0.1:8080/"
  methd     = "GET" # error: Unsupported argument | Did you mean "method"?
  intervall = "10s" # error: Unsupported argument | Did you mean "interval"?
}
