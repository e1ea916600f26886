# /etc/satellite/satellite.hcl: the node's settings and a few starter checks,
# installed by the satellite package. This file is a conffile: edit it freely,
# an upgrade of the package never overwrites your changes (dpkg asks, or
# keeps yours, when the packaged version changes too).
#
# Put your own checks in /etc/satellite/conf.d/*.hcl; keep this file for what
# is local to this node (agent, api, mesh). `satellite validate` checks the
# whole config before you reload the agent:
#
#   satellite validate /etc/satellite /etc/satellite/conf.d
#   systemctl reload satellite    # SIGHUP: an invalid config is refused
#
# The language and every check type are described in the satellite
# repository (docs/language.md, docs/checks/TYPE.md); the commands in
# `man satellite`.

agent {
  # name = "node-1"                  # default: this machine's host name
  data_dir = "/var/lib/satellite" # the SQLite history and the spools
  # tags   = { role = "worker" }     # only_on in the checks matches these
}

api {
  # Loopback only: no token is needed. Listening on another address needs
  # token_file (see docs/api.md).
  listen = "127.0.0.1:7575"
}

# To join other nodes, add a mesh block (docs/mesh.md), for example:
#
# mesh {
#   join             = ["10.0.0.10:7946"]
#   encrypt_key_file = "/etc/satellite/gossip.key" # satellite keygen > it
# }

# How full the root file system is.
check "disk" "root" {
  interval = "1m"
  path     = "/"

  threshold "used_percent" {
    warn = 80
    crit = 90
  }

  threshold "inodes_used_percent" {
    warn = 80
    crit = 95
  }
}

# The agent's own API. /healthz answers 200 when this node is healthy and 503
# when it is degraded; either way the API is up, which is what this check is
# about.
check "http" "agent_api" {
  interval      = "30s"
  url           = "http://127.0.0.1:7575/healthz"
  expect_status = [200, 503]

  threshold "latency_ms" {
    warn = 100
    crit = 1000
  }
}
