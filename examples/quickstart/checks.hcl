# A single-node config that works on any Linux machine: the agent watches
# its own API, and a port that is closed on purpose shows what "critical"
# and "blocked" look like.

variable "node_name" {
  type        = string
  default     = "quickstart"
  description = "The node's name in the status document."
}

variable "data_dir" {
  type        = string
  default     = ".satellite/data"
  description = "Where the agent keeps its SQLite history (git-ignored)."
}

variable "api_port" {
  type    = number
  default = 7575

  validation {
    condition     = var.api_port > 0 && var.api_port < 65536
    error_message = "api_port must be a TCP port number."
  }
}

locals {
  api = "http://127.0.0.1:${var.api_port}"
}

defaults {
  interval = "15s"
  labels   = { team = "quickstart" }
}

# The agent's own health endpoint answers with {"status": "..."}: 200 when
# this node is healthy, 503 when it is degraded. Either way the API is up,
# which is what this check is about.
check "http" "agent_api" {
  url           = "${local.api}/healthz"
  expect_status = [200, 503]

  threshold "latency_ms" {
    warn = 50
    crit = 500
  }

  assert {
    condition     = contains(["healthy", "degraded", "unknown"], try(result.json.status, ""))
    error_message = "the agent's API answered ${result.body}"
  }
}

# The status document of this node names it.
check "http" "agent_status" {
  url        = "${local.api}/v1/status/local"
  depends_on = [check.http.agent_api]

  assert {
    condition     = try(result.json.name, "") == var.node_name
    error_message = "the status document names ${try(result.json.name, "nobody")}"
  }
}

# Nothing listens on port 1: this check is critical, on purpose, so the node
# shows as degraded...
check "tcp" "closed_port" {
  address = "127.0.0.1:1"
  timeout = "2s"
}

# ...and this one is blocked, not run: "blocked by tcp.closed_port (critical)".
check "http" "behind_closed_port" {
  url        = "http://127.0.0.1:1/"
  depends_on = [check.tcp.closed_port]
}
