sink "influxdb" "tsdb" {
  url    = "https://influx.internal:8086"
  # InfluxDB 2.x: an API token. InfluxDB 1.8 with auth on: "user:password";
  # with auth off, leave it empty.
  token  = env("INFLUX_TOKEN", "")
  org    = "ops"
  # InfluxDB 1.8: "DATABASE/RETENTION_POLICY", such as "satellite/autogen".
  bucket = "satellite"
  # How long one write may take before it is retried; default "10s".
  timeout = "10s"

  # Meta-arguments every sink has.
  batch_size     = 1000
  flush_interval = "5s"
  spool_max      = "256MiB"

  tls {
    ca_file = "/etc/satellite/influx-ca.pem"
  }
}
