sink "plugin" "jsonl" {
  # The plugin program (see docs/sinks/plugins.md), run directly, without a
  # shell. A relative path is taken from the folder of this file, which is
  # also the plugin's working folder.
  command = "/usr/lib/satellite/plugins/jsonl-sink"
  args    = []
  # Passed to the plugin when it starts: a map of strings. Values may be
  # secrets, such as env("PAGER_KEY"); satellite never logs them.
  config = {
    path = "/var/log/satellite/results.jsonl"
  }
  # How long the plugin may take to start and take its config; default "10s".
  start_timeout = "10s"
  # How long one batch may take before the plugin counts as hung and is
  # restarted; default "1m".
  write_timeout = "1m"
}
