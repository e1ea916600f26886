# Memory and swap: warn when less than 10% of memory is available, and on any
# real use of swap.
check "memory" "node" {
  interval = "30s"

  threshold "used_percent" {
    warn = 90
    crit = 95
  }

  threshold "swap_used_percent" {
    warn = 10
    crit = 50
  }
}

# At least 1 GiB available for new work, whatever the size of the machine.
check "memory" "headroom" {
  threshold "available_bytes" {
    warn      = 2147483648 # 2 GiB
    crit      = 1073741824 # 1 GiB
    direction = "below"
  }
}
