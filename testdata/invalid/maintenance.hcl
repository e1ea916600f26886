# Maintenance windows: every error at its attribute, with what is valid.
variable "sched" {
  type    = string
  default = "0 2 * *"
}

check "disk" "root" {
  path = "/"
}

maintenance "fields" {
  schedule = var.sched # error: Invalid schedule | 5 fields (minute hour day-of-month month day-of-week)
  duration = "2h"
}

maintenance "every" {
  schedule = "@every 1h" # error: Invalid schedule | one of @hourly, @daily, @weekly, @monthly, @yearly
  duration = "1h"
}

maintenance "cron-tz" {
  schedule = "TZ=Europe/Berlin 0 2 * * *" # error: Invalid schedule | set with the timezone attribute
  duration = "1h"
}

maintenance "tz-alone" {
  schedule = "CRON_TZ=UTC" # error: Invalid schedule | set with the timezone attribute
  duration = "1h"
}

maintenance "range" {
  schedule = "0 25 * * *" # error: Invalid schedule | above maximum
  duration = "1h"
}

maintenance "never" {
  schedule = "0 0 30 2 *" # error: Schedule never starts | 30th of February
  duration = "1h"
}

maintenance "zone" {
  schedule = "0 2 * * *"
  duration = "1h"
  timezone = "Mars/Olympus_Mons" # error: Invalid timezone | IANA time zone name
}

maintenance "local" {
  schedule = "0 2 * * *"
  duration = "1h"
  timezone = "Local" # error: Invalid timezone | "Europe/Berlin" or "UTC"
}

maintenance "zero" {
  schedule = "0 2 * * *"
  duration = "0s" # error: Invalid duration | longer than 0s and at most 24h
}

maintenance "long" {
  schedule = "0 2 * * *"
  duration = "24h1s" # error: Invalid duration | at most 24h
}

maintenance "negative" {
  schedule = "0 2 * * *"
  duration = "-1h" # error: Invalid duration | longer than 0s
}

maintenance "words" {
  schedule = "0 2 * * *"
  duration = "a while" # error: Invalid duration | written like "2h"
}

maintenance "glob" {
  schedule = "0 2 * * *"
  duration = "1h"
  checks = [
    "disk.*",
    "disk.[a-", # error: Invalid pattern | path.Match syntax
    "disk\\",   # error: Invalid pattern | \ escapes the next character
  ]
}

maintenance "typos" { # error: Missing duration | A maintenance block needs duration
  schedule = "0 2 * * *"
  durtion  = "1h" # error: Unsupported argument | Did you mean "duration"?
  every    = "week" # error: Unsupported argument | takes schedule, duration, timezone, only_on and checks
  window { # error: Unsupported block type | takes schedule, duration
  }
}

maintenance "missing" { # error: Missing schedule | A maintenance block needs schedule
  duration = "1h"
  timezone = "UTC"
}

maintenance "missing2" { # error: Missing duration | A maintenance block needs duration
  schedule = "@hourly"
}

maintenance "types" {
  schedule = ["0 2 * * *"] # error: Incorrect attribute value type | a string is required
  duration = "1h"
  only_on  = "worker" # error: Incorrect attribute value type | a map of strings
}

maintenance "fields" { # error: Duplicate maintenance window | already declared at
  schedule = "@daily"
  duration = "1h"
}

maintenance "not a name" { # error: Invalid name | not a valid name
  schedule = "@daily"
  duration = "1h"
}
