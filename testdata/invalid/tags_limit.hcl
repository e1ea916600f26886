agent {
  name = "node-1"
  tags = { # error: Tags too large | serf allows 512 bytes
    description = "a very long description of this node that keeps going on and on, because operators sometimes put whole paragraphs into tags, which serf cannot carry in its member metadata"
    owner       = "platform-team-with-an-exceedingly-long-name-that-nobody-would-ever-type-twice"
    contact     = "platform-oncall@example.internal, escalation via the pager rotation named platform-primary"
    runbook     = "https://wiki.internal.example/runbooks/satellite/nodes/node-1/what-to-do-when-it-is-down"
  }
}
