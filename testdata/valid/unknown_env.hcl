# flags: unknown-env
# With --unknown-env, env(), file() and hostname() are unknown: the rest is
# still checked.
agent {
  name = hostname()
}

check "http" "api" {
  url     = "https://${env("API_HOST")}:6443/healthz"
  headers = { Authorization = "Bearer ${file("token.txt")}" }
}
