# A single node that sends its results to InfluxDB, for the dashboard in
# satellite-influxdb.json (see README.md). With an InfluxDB 1.8 on this
# machine with auth off:
#
#   curl -XPOST http://127.0.0.1:8086/query --data-urlencode 'q=CREATE DATABASE satellite'
#   satellite run examples/grafana

variable "influx_url" {
  type        = string
  default     = "http://127.0.0.1:8086"
  description = "InfluxDB's base URL."
}

variable "influx_token" {
  type        = string
  default     = ""
  sensitive   = true
  description = "InfluxDB 2.x: an API token; 1.8 with auth on: \"user:password\"; empty when auth is off."
}

agent {
  name     = "grafana-demo"
  data_dir = ".satellite/grafana" # git-ignored, like the quickstart's
}

api {
  listen = "127.0.0.1:7576" # beside the quickstart's 7575
}

defaults {
  interval = "10s"
  labels   = { team = "demo" }
}

# InfluxDB itself answers /ping with 204.
check "http" "influxdb" {
  url           = "${var.influx_url}/ping"
  expect_status = [204]

  threshold "latency_ms" {
    warn = 50
    crit = 500
  }
}

# The agent's own API.
check "tcp" "agent_api" {
  address = "127.0.0.1:7576"
}

# Closed on purpose: the dashboard's "failing checks" and state changes have
# something to show.
check "tcp" "closed_port" {
  address = "127.0.0.1:1"
}

sink "influxdb" "tsdb" {
  url    = var.influx_url
  token  = var.influx_token
  bucket = "satellite/autogen" # InfluxDB 2.x: the bucket's name, and set org

  batch_size     = 1000
  flush_interval = "5s"
}
