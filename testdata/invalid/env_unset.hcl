# setenv: PRESENT=yes
check "http" "api" {
  url     = "http://127.0.0.1:8080/${env("PRESENT")}"
  headers = { Authorization = env("SATELLITE_TEST_TOKEN_UNSET") } # error: Invalid function argument | "SATELLITE_TEST_TOKEN_UNSET" is not set
}
