check "http" "api" {
  url = "http://127.0.0.1:8080/" "extra" # error: Missing newline after argument
}
