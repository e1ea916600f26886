api {
  listen = "0.0.0.0:7575" # error: API token required
}

mesh {
  bind = "no-port" # error: Invalid address
}
