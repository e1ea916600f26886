# Node-local settings. This is the file config management writes on each
# node, for example as /etc/satellite/node.hcl; everything else in this
# folder is the same on every node and lives in git. On a master it says
# role = "master", on a worker role = "worker" (see README.md): the tags
# decide which checks a node runs.
agent {
  tags = {
    role = "master"
    zone = "eu-1"
  }
}

mesh {
  bind       = "0.0.0.0:7946"
  retry_join = ["satellite.k8s.internal:7946"] # a DNS name with every master
}

api {
  listen = "127.0.0.1:7575"
}
