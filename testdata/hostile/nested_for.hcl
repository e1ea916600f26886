# for expressions nested three deep over 1,000 elements: 10^9 iterations,
# refused when they have spent the evaluation budget. (The budget is lowered
# to keep the test short; the default, 8 million steps, ends the same way
# within seconds.)
agent {
  limits {
    max_eval_steps = 1000000
  }
}

locals {
  list  = [for i in range(1000) : i]
  spent = [for a in local.list : length([for b in local.list : length([for c in local.list : c])])] # error: Over the limit max_eval_steps
}
