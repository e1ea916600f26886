package engine

// Takes reports whether the sink takes a check run: the check names the sink
// in its `sinks` (nil names every sink), and the sink takes every result or,
// with send = "changes", only state changes. The agent's sink subscribers
// and `run --once` both route through here.
func (s *Sink) Takes(checkSinks []string, changed bool) bool {
	if s.Send == "changes" && !changed {
		return false
	}
	if checkSinks == nil {
		return true
	}
	for _, a := range checkSinks {
		if a == s.Address {
			return true
		}
	}
	return false
}
