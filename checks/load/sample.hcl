# Load per CPU: more runnable (or uninterruptible) tasks than CPUs, sustained
# over five minutes, is a warning; twice as many is critical.
check "load" "node" {
  interval = "1m"

  threshold "load5" {
    warn = 1
    crit = 2
  }

  threshold "load15" {
    warn = 0.8
    crit = 1.5
  }
}
