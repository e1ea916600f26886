// Package testenv tells tests which services `make test` started for them,
// and makes a test that needs a missing service fail under `make test` (and
// CI) but skip, with the reason, when run by hand.
package testenv

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// Variables scripts/test.sh exports for the services it starts.
const (
	// Services is set by scripts/test.sh: every service below must be there.
	Services = "SATELLITE_TEST_SERVICES"
	// ContainerdSocket is the socket of the containerd make test started.
	ContainerdSocket = "SATELLITE_TEST_CONTAINERD_SOCKET"
	// InfluxURL is the base URL of the InfluxDB 1.8 make test started.
	InfluxURL = "SATELLITE_TEST_INFLUXDB_URL"
	// InfluxDatabase is the database created in it.
	InfluxDatabase = "SATELLITE_TEST_INFLUXDB_DB"
	// InfluxBin is the influxd binary, for tests that stop and start their own server.
	InfluxBin = "SATELLITE_TEST_INFLUXD"
	// SerfBin is Debian's serf binary, for tests that start a plain serf
	// agent (a foreign member) next to satellite's.
	SerfBin = "SATELLITE_TEST_SERF"
)

// UnderMakeTest reports whether scripts/test.sh runs the tests.
func UnderMakeTest() bool { return os.Getenv(Services) != "" }

// Unavailable ends the test: a failure under make test, where the service
// must be there, a skip with the reason otherwise.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if UnderMakeTest() {
		t.Fatalf("%s (make test must provide it: see scripts/test.sh)", reason)
	}
	t.Skipf("%s; run `make test`, which starts it", reason)
}

// Need returns the value of the environment variable a service's test
// needs, or ends the test through Unavailable.
func Need(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Unavailable(t, what+" is not running ($"+name+" is empty)")
	}
	return v
}

// NeedRoot ends the test through Unavailable unless it runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, why+" needs root")
	}
}

// Buffer collects output written from many goroutines (an agent's logs, a
// process's output) for a test to read.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
