check "htpp" "api" { # error: Unknown check type | Did you mean "http"?
  url = "http://127.0.0.1:8080/"
}
