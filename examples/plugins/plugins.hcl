# Every result goes to a sink plugin, the jsonl example in jsonl-sink/, which
# appends it to a file as a JSON line. From the repository's root:
#
#   go build -o bin/jsonl-sink ./examples/plugins/jsonl-sink
#   make build && bin/satellite run examples/plugins
#   tail -f .satellite/plugins/results.jsonl
#
# Relative paths are taken from this folder.

agent {
  name     = "plugins-example"
  data_dir = "../../.satellite/plugins"
}

api {
  listen = "127.0.0.1:7576"
}

# The agent's own API, so that there is something to report.
check "tcp" "agent_api" {
  address  = "127.0.0.1:7576"
  interval = "5s"
}

sink "plugin" "jsonl" {
  command = "../../bin/jsonl-sink"
  # The plugin runs in this folder: this is .satellite/plugins/ at the root.
  config = { path = "../../.satellite/plugins/results.jsonl" }
  batch_size     = 100
  flush_interval = "1s"
}
