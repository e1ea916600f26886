agent {
  name = "node-1"
  tags = { # error: Reserved tag | The tag "hash" is set by satellite itself
    role = "worker"
    hash = "abc"
  }
}
