# Node-local settings: on a real node config management writes this file
# (for example /etc/satellite/node.hcl); the check files are shared.
agent {
  name     = var.node_name
  data_dir = var.data_dir # the SQLite history lives here
  tags     = { role = "quickstart" }
}

api {
  listen = "127.0.0.1:7575" # loopback: no token needed
}
