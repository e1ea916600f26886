package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// fakeAgent is the agent's side of the API for the CLI's tests: the
// documents are set by each test, the HTTP server in front of it is the real
// api.Server. (The real cluster view is built by mesh/ and agent/, tested
// there with real serf agents.)
type fakeAgent struct {
	mu      sync.Mutex
	cluster health.Cluster
	local   health.Node
	members []health.Member
}

func (a *fakeAgent) LocalStatus() health.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.local
}

func (a *fakeAgent) ClusterStatus(context.Context) health.Cluster {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cluster
}

func (a *fakeAgent) NodeStatus(_ context.Context, name string) (health.Cluster, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.cluster.Nodes {
		if n.Name == name {
			return health.ClusterOf([]health.Node{n}, a.cluster.Timestamp), true
		}
	}
	return health.Cluster{}, false
}

func (a *fakeAgent) Members() []health.Member {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members
}

func (a *fakeAgent) History(context.Context, health.Query) ([]health.Change, error) {
	return nil, nil
}

func (a *fakeAgent) Reload(context.Context) (string, []dsl.JSONDiagnostic, error) {
	return "", nil, nil
}

// serveAPI serves b with a real api.Server on 127.0.0.1:0 until the test
// ends and returns its host:port.
func serveAPI(t *testing.T, b api.Backend, opts api.Options) string {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	s, err := api.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s.Addr().String()
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// isolateAgentEnv keeps the developer's SATELLITE_ADDR, SATELLITE_TOKEN and
// NO_COLOR out of the tests.
func isolateAgentEnv(t *testing.T) {
	t.Helper()
	unsetenv(t, envAddr)
	unsetenv(t, envToken)
}

var docTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func probe(checker string, st checks.Status) health.Probe {
	typ, _, _ := strings.Cut(checker, ".")
	return health.Probe{Checker: checker, Type: typ, Status: st}
}

func member(name, status, hash string) *health.Member {
	return &health.Member{Name: name, Addr: "10.0.0.1:7946", Status: status,
		Tags: map[string]string{tagHash: hash, tagRole: "master", tagVersion: "0.1.0"}}
}

// healthyDoc is two healthy nodes on one config, given out of order.
func healthyDoc() health.Cluster {
	nodes := []health.Node{
		{Name: "node-b", MemberStatus: member("node-b", "alive", "a1b2c3d4"), Status: health.Healthy, ConfigHash: "a1b2c3d4",
			Version: "0.1.0", ObservedAt: docTime.Add(-3 * time.Minute), Probes: []health.Probe{probe("tcp.etcd", checks.StatusPassing)}},
		{Name: "node-a", MemberStatus: member("node-a", "alive", "a1b2c3d4"), Status: health.Healthy, ConfigHash: "a1b2c3d4",
			Version: "0.1.0", ObservedAt: docTime.Add(-4 * time.Second), Probes: []health.Probe{probe("tcp.etcd", checks.StatusWarning)}},
	}
	return health.ClusterOf(nodes, docTime)
}

// degradedDoc has a degraded node, a failed and stale one on another
// config, and a healthy one.
func degradedDoc() health.Cluster {
	nodes := []health.Node{
		{Name: "node-c", MemberStatus: member("node-c", "failed", "e5f6a7b8"), Status: health.Healthy, ConfigHash: "e5f6a7b8",
			Version: "0.1.0", ObservedAt: docTime.Add(-5 * time.Hour), Stale: true, Probes: []health.Probe{}},
		{Name: "node-b", MemberStatus: member("node-b", "alive", "a1b2c3d4"), Status: health.Degraded, ConfigHash: "a1b2c3d4",
			Version: "0.1.0", ObservedAt: docTime.Add(-2 * time.Second), Probes: []health.Probe{
				probe("tcp.etcd", checks.StatusCritical), probe("http.api", checks.StatusBlocked), probe("disk.root", checks.StatusWarning)}},
		{Name: "node-a", MemberStatus: member("node-a", "alive", "a1b2c3d4"), Status: health.Healthy, ConfigHash: "a1b2c3d4",
			Version: "0.1.0", ObservedAt: docTime.Add(-1 * time.Second), Probes: []health.Probe{probe("tcp.etcd", checks.StatusPassing)}},
	}
	return health.ClusterOf(nodes, docTime)
}

// tableRows returns the table's lines split into fields, by first field.
func tableRows(out string) map[string][]string {
	rows := map[string][]string{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	return rows
}

func TestStatusTable(t *testing.T) {
	isolateAgentEnv(t)
	unsetenv(t, "NO_COLOR")
	a := &fakeAgent{cluster: healthyDoc()}
	addr := serveAPI(t, a, api.Options{})

	r := satellite(t, "status", "--addr", addr).want(t, exitOK)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if lines[0] != "Cluster healthy: all 2 node(s) healthy" || lines[1] != "" {
		t.Errorf("summary:\n%s", r.stdout)
	}
	if !strings.HasPrefix(lines[2], "NAME    STATUS   MEMBER  AGE  STALE  CONFIG    FAILING") ||
		!strings.HasPrefix(lines[3], "node-a") || !strings.HasPrefix(lines[4], "node-b") || len(lines) != 5 {
		t.Errorf("table (nodes sorted by name):\n%s", r.stdout)
	}
	rows := tableRows(r.stdout)
	if want := []string{"node-a", "healthy", "alive", "4s", "-", "a1b2c3d4", "-"}; !reflect.DeepEqual(rows["node-a"], want) {
		t.Errorf("node-a: %q, want %q", rows["node-a"], want)
	}
	if want := []string{"node-b", "healthy", "alive", "3m", "-", "a1b2c3d4", "-"}; !reflect.DeepEqual(rows["node-b"], want) {
		t.Errorf("node-b: %q, want %q", rows["node-b"], want)
	}
	if strings.Contains(r.stdout, "\x1b[") || r.stderr != "" {
		t.Errorf("escape codes or stderr output when not on a terminal: %q %q", r.stdout, r.stderr)
	}

	a.mu.Lock()
	a.cluster = degradedDoc()
	a.mu.Unlock()
	r = satellite(t, "status", "--addr", "http://"+addr+"/").want(t, exitFailed)
	if !strings.HasPrefix(r.stdout, "Cluster degraded: 2 of 3 node(s) degraded (node-c: stale data; failed; node-b: http.api blocked, tcp.etcd critical)\n") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	rows = tableRows(r.stdout)
	for name, want := range map[string][]string{
		"node-a": {"node-a", "healthy", "alive", "1s", "-", "a1b2c3d4", "-"},
		"node-b": {"node-b", "degraded", "alive", "2s", "-", "a1b2c3d4", "http.api", "blocked,", "tcp.etcd", "critical"},
		"node-c": {"node-c", "healthy", "failed", "5h", "stale", "e5f6a7b8*", "-"},
	} {
		if !reflect.DeepEqual(rows[name], want) {
			t.Errorf("%s: %q, want %q\n%s", name, rows[name], want, r.stdout)
		}
	}
	mustContainAll(t, r.stdout,
		"\n2 config hashes in the mesh: a1b2c3d4 (2 nodes), e5f6a7b8 (1 node): a rollout in progress or stuck\n",
		"* runs another config than most nodes (a1b2c3d4)\n")

	// A node with no data yet makes the cluster not healthy: exit 1.
	a.mu.Lock()
	a.cluster = health.ClusterOf([]health.Node{{Name: "node-a", Status: health.NodeUnknown}}, docTime)
	a.mu.Unlock()
	r = satellite(t, "status", "--addr", addr).want(t, exitFailed)
	if row := tableRows(r.stdout)["node-a"]; !reflect.DeepEqual(row, []string{"node-a", "unknown", "-", "-", "-", "-", "-"}) {
		t.Errorf("unknown node: %q\n%s", row, r.stdout)
	}
}

func TestStatusJSON(t *testing.T) {
	isolateAgentEnv(t)
	for _, doc := range []health.Cluster{healthyDoc(), degradedDoc()} {
		a := &fakeAgent{cluster: doc}
		addr := serveAPI(t, a, api.Options{})
		code := exitOK
		if doc.Status != health.Healthy {
			code = exitFailed
		}
		r := satellite(t, "status", "--addr", addr, "--format", "json").want(t, code)
		var got health.Cluster
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%v:\n%s", err, r.stdout)
		}
		if dec.More() {
			t.Error("more than one JSON value on stdout")
		}
		if !reflect.DeepEqual(got, doc) {
			t.Errorf("got %+v\nwant %+v", got, doc)
		}
		if !strings.HasPrefix(r.stdout, "{\n  \"status\": ") || !strings.HasSuffix(r.stdout, "}\n") {
			t.Errorf("not indented:\n%s", r.stdout)
		}
	}
}

// The JSON output is the API's answer, fields this CLI does not know
// included (a newer agent's).
func TestWriteIndentedKeepsUnknownFields(t *testing.T) {
	var buf bytes.Buffer
	if err := writeIndented(&buf, []byte(`{"status":"healthy","new_field":{"x":[1,2]}}`+"\n")); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"status\": \"healthy\",\n  \"new_field\": {\n    \"x\": [\n      1,\n      2\n    ]\n  }\n}\n"; buf.String() != want {
		t.Errorf("%q", buf.String())
	}
	if err := writeIndented(&buf, []byte("<html>")); err == nil {
		t.Error("HTML accepted as JSON")
	}
}

func TestStatusLocal(t *testing.T) {
	isolateAgentEnv(t)
	doc := degradedDoc()
	a := &fakeAgent{cluster: healthyDoc(), local: doc.Nodes[1]}
	addr := serveAPI(t, a, api.Options{})

	r := satellite(t, "status", "--local", "--addr", addr).want(t, exitFailed)
	if !strings.HasPrefix(r.stdout, "Node degraded: node node-b: http.api blocked, tcp.etcd critical\n") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	rows := tableRows(r.stdout)
	// The summary, the node table (header, node-b) and the failing
	// checks (header, tcp.etcd, http.api).
	if len(rows) != 6 || rows["node-b"] == nil || rows["node-a"] != nil {
		t.Errorf("want node-b alone:\n%s", r.stdout)
	}
	if want := []string{"tcp.etcd", "node-b", "critical", "-"}; !reflect.DeepEqual(rows["tcp.etcd"], want) {
		t.Errorf("failing checks: %q, want %q\n%s", rows["tcp.etcd"], want, r.stdout)
	}
	if i, j := strings.Index(r.stdout, "tcp.etcd  node-b"), strings.Index(r.stdout, "http.api  node-b"); i < 0 || j < i {
		t.Errorf("critical checks come before blocked ones:\n%s", r.stdout)
	}
	// Without a document time, the age is against the clock.
	if got := rows["node-b"][3]; got == "-" || got == "2s" {
		t.Errorf("age %q", got)
	}

	r = satellite(t, "status", "--local", "--addr", addr, "--format", "json").want(t, exitFailed)
	var n health.Node
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil || !reflect.DeepEqual(n, doc.Nodes[1]) {
		t.Errorf("%v: %+v", err, n)
	}

	a.mu.Lock()
	a.local = healthyDoc().Nodes[0]
	a.mu.Unlock()
	r = satellite(t, "status", "--local", "--addr", addr).want(t, exitOK)
	if !strings.HasPrefix(r.stdout, "Node healthy: node node-b: 1 check(s), none critical or blocked\n") {
		t.Errorf("%s", r.stdout)
	}
}

func TestStatusUnreachable(t *testing.T) {
	isolateAgentEnv(t)
	addr := closedAddr(t)
	for _, args := range [][]string{
		{"status", "--addr", addr},
		{"status", "--addr", addr, "--format", "json"},
		{"status", "--addr", "http://" + addr, "--local"},
		{"members", "--addr", addr},
		{"keyring", "list", "--addr", addr},
	} {
		r := satellite(t, args...).want(t, exitNoAgent)
		if r.stdout != "" || r.stderr != "Error: cannot reach the agent at http://"+addr+": connection refused\n" {
			t.Errorf("%v: %q %q", args, r.stdout, r.stderr)
		}
	}
	// The default address, from the environment.
	t.Setenv(envAddr, addr)
	r := satellite(t, "status").want(t, exitNoAgent)
	if !strings.Contains(r.stderr, "http://"+addr+": connection refused") {
		t.Errorf("%q", r.stderr)
	}
}

func TestStatusToken(t *testing.T) {
	isolateAgentEnv(t)
	const full, read = "full-0123456789", "read-0123456789"
	addr := serveAPI(t, &fakeAgent{cluster: healthyDoc()}, api.Options{Token: full, ReadToken: read})
	tokenFile := writeFile(t, t.TempDir(), "api.token", read+"\n")

	for _, tc := range []struct {
		name string
		args []string
		env  string
		code int
		err  string
	}{
		{"none", nil, "", exitNoAgent, "Error: the agent at http://" + addr + " needs an API token (401 unauthorized): give it with --token-file, --token or $SATELLITE_TOKEN.\n"},
		{"wrong", []string{"--token", "nope"}, "", exitNoAgent, "Error: the agent at http://" + addr + " refused the API token (401 unauthorized): it is not the agent's api.token_file nor its read_token_file.\n"},
		{"wrong env", nil, "nope", exitNoAgent, "refused the API token"},
		{"full flag", []string{"--token", full}, "", exitOK, ""},
		{"read env", nil, read, exitOK, ""},
		{"read file", []string{"--token-file", tokenFile}, "", exitOK, ""},
		{"flag over env", []string{"--token", full}, "nope", exitOK, ""},
		{"both flags", []string{"--token", full, "--token-file", tokenFile}, "", exitUsage, "not both"},
		{"missing file", []string{"--token-file", filepath.Join(t.TempDir(), "nope")}, "", exitUsage, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(envToken, tc.env)
			}
			r := satellite(t, append([]string{"status", "--addr", addr}, tc.args...)...).want(t, tc.code)
			if !strings.Contains(r.stderr, tc.err) || (tc.err == "" && r.stderr != "") {
				t.Errorf("stderr %q, want %q", r.stderr, tc.err)
			}
			if strings.Contains(r.all(), full) || strings.Contains(r.all(), read) {
				t.Errorf("a token was printed:\n%s", r.all())
			}
		})
	}
	// The environment's token does not show in --help.
	t.Setenv(envToken, full)
	if r := satellite(t, "status", "--help").want(t, exitOK); strings.Contains(r.all(), full) {
		t.Errorf("--help shows the token:\n%s", r.stdout)
	}
}

func TestStatusUsage(t *testing.T) {
	isolateAgentEnv(t)
	for _, args := range [][]string{
		{"status", "--format", "yaml"},
		{"status", "--addr", "ftp://x"},
		{"status", "--addr", ":7575"},
		{"status", "extra"},
		{"status", "--timeout", "0s"},
		{"status", "--cert-file", "x.crt"},
		{"members", "--format", "yaml"},
		{"keygen", "extra"},
	} {
		satellite(t, args...).want(t, exitUsage)
	}
}

// Colour on a terminal, none with NO_COLOR.
func TestStatusColor(t *testing.T) {
	isolateAgentEnv(t)
	unsetenv(t, "NO_COLOR")
	addr := serveAPI(t, &fakeAgent{cluster: degradedDoc()}, api.Options{})
	out, code := runOnTerminal(t, "status", "--addr", addr)
	if code != exitFailed || !strings.Contains(out, "Cluster \x1b[31mdegraded\x1b[0m:") || !strings.Contains(out, "\x1b[32mhealthy\x1b[0m") {
		t.Errorf("exit %d, want 1 and colour:\n%q", code, out)
	}
	t.Setenv("NO_COLOR", "1")
	if out, _ = runOnTerminal(t, "status", "--addr", addr); strings.Contains(out, "\x1b[") {
		t.Errorf("NO_COLOR: escape codes:\n%q", out)
	}
}

func TestAge(t *testing.T) {
	ref := docTime
	for d, want := range map[time.Duration]string{
		0: "0s", 4 * time.Second: "4s", 59 * time.Second: "59s", time.Minute: "1m", 3*time.Minute + 59*time.Second: "3m",
		time.Hour: "1h", 47 * time.Hour: "47h", 48 * time.Hour: "2d", -time.Minute: "0s",
	} {
		if got := age(ref, ref.Add(-d)); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
	if got := age(ref, time.Time{}); got != "-" {
		t.Errorf("zero time: %q", got)
	}
}

func TestFailingCell(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		width int
		want  string
	}{
		{nil, 60, ""},
		{[]string{"tcp.etcd critical", "http.api blocked"}, 60, "tcp.etcd critical, http.api blocked"},
		{[]string{"tcp.etcd critical", "http.api blocked", "http.b critical"}, 40, "tcp.etcd critical, +2 more"},
		{[]string{"tcp.etcd critical", "http.a critical", "x critical"}, 44, "tcp.etcd critical, http.a critical, +1 more"},
		{[]string{strings.Repeat("x", 70) + " critical"}, 20, strings.Repeat("x", 19) + "…"},
		{[]string{strings.Repeat("x", 70) + " critical", "y critical"}, 20, strings.Repeat("x", 10) + "…, +1 more"},
		{[]string{"a\x1b[31m critical"}, 60, "a?[31m critical"},
	} {
		if got := failingCell(tc.in, tc.width); got != tc.want {
			t.Errorf("%q in %d: %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

func TestMajorityHash(t *testing.T) {
	for _, tc := range []struct {
		in           []string
		major, split string
	}{
		{nil, "", ""},
		{[]string{"a", "a", ""}, "a", ""},
		{[]string{"b", "a", "a"}, "a", "2 config hashes in the mesh: a (2 nodes), b (1 node): a rollout in progress or stuck"},
		// A tie has no majority: nobody is marked, the line still says it.
		{[]string{"b", "a"}, "", "2 config hashes in the mesh: a (1 node), b (1 node): a rollout in progress or stuck"},
	} {
		major, split := majorityHash(tc.in)
		if major != tc.major || split != tc.split {
			t.Errorf("%q: %q %q", tc.in, major, split)
		}
	}
}

func mustContainAll(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("missing %q in:\n%s", sub, s)
		}
	}
}

// writeCA writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func writeCA(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		return writeFile(t, dir, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.crt", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf(2, x509.ExtKeyUsageServerAuth, "server")
	cliCert, cliKey = leaf(3, x509.ExtKeyUsageClientAuth, "client")
	return ca, srvCert, srvKey, cliCert, cliKey
}

// An agent serving HTTPS and asking for client certificates: the https URL,
// the CA and the client certificate flags.
func TestStatusTLS(t *testing.T) {
	isolateAgentEnv(t)
	ca, srvCert, srvKey, cliCert, cliKey := writeCA(t, t.TempDir())
	addr := serveAPI(t, &fakeAgent{cluster: healthyDoc()}, api.Options{
		TLS: &api.TLSFiles{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: ca}})
	url := "https://" + addr

	satellite(t, "status", "--addr", url, "--ca-file", ca, "--cert-file", cliCert, "--key-file", cliKey).want(t, exitOK)

	r := satellite(t, "status", "--addr", url, "--cert-file", cliCert, "--key-file", cliKey).want(t, exitNoAgent)
	if !strings.HasPrefix(r.stderr, "Error: cannot reach the agent at "+url+": tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Errorf("unknown CA: %q", r.stderr)
	}
	// No client certificate: the handshake fails.
	r = satellite(t, "status", "--addr", url, "--ca-file", ca).want(t, exitNoAgent)
	if !strings.HasPrefix(r.stderr, "Error: cannot reach the agent at "+url+": ") {
		t.Errorf("no client certificate: %q", r.stderr)
	}
	// Plain HTTP to the TLS port gets an answer, but not the API's.
	r = satellite(t, "status", "--addr", addr).want(t, exitNoAgent)
	if want := "Error: the agent at http://" + addr + " answered 400: Bad Request (does the agent serve https? then write --addr " + url + ")\n"; r.stderr != want {
		t.Errorf("plain http: %q\nwant %q", r.stderr, want)
	}
	satellite(t, "status", "--addr", url, "--ca-file", cliKey).want(t, exitUsage)
}

// bigDoc is a cluster of n nodes with 20 probes each, every tenth node
// degraded by three failing probes, on two config hashes.
func bigDoc(n int) health.Cluster {
	nodes := make([]health.Node, n)
	for i := range nodes {
		probes := make([]health.Probe, 20)
		for j := range probes {
			probes[j] = probe(fmt.Sprintf("http.service_%02d", j), checks.StatusPassing)
		}
		status := health.Healthy
		if i%10 == 0 {
			for j := range 3 {
				probes[j].Status = checks.StatusCritical
			}
			status = health.Degraded
		}
		hash := "a1b2c3d4"
		if i%7 == 0 {
			hash = "e5f6a7b8"
		}
		name := fmt.Sprintf("node-%04d", (i*7919)%n) // not in name order
		nodes[i] = health.Node{Name: name, MemberStatus: member(name, "alive", hash), Status: status,
			ConfigHash: hash, ObservedAt: docTime.Add(-time.Duration(i) * time.Second), Probes: probes}
	}
	return health.ClusterOf(nodes, docTime)
}

// The table of a 1,000-node cluster (the size the original satellite was
// used at), without the request.
func BenchmarkStatusTable1000(b *testing.B) {
	doc := bigDoc(1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := writeStatusTable(io.Discard, doc, false, docTime, false); err != nil {
			b.Fatal(err)
		}
	}
}

// The whole command against a real API server on loopback: request,
// decoding and table, for 1,000 nodes.
func BenchmarkStatusCommand1000(b *testing.B) {
	s, err := api.New(&fakeAgent{cluster: bigDoc(1000)}, api.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	args := []string{"status", "--addr", s.Addr().String()}
	b.ReportAllocs()
	for b.Loop() {
		if code := run(args, io.Discard, io.Discard); code != exitFailed {
			b.Fatalf("exit %d", code)
		}
	}
}

// A thousand nodes: the summary line is cut, every node has its row, the
// marker and the last line count the hashes.
func TestStatusTableLarge(t *testing.T) {
	var buf bytes.Buffer
	if err := writeStatusTable(&buf, bigDoc(1000), false, docTime, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if n := utf8.RuneCountInString(lines[0]); n > len("Cluster degraded: ")+summaryWidth || !strings.HasSuffix(lines[0], "…") {
		t.Errorf("summary of %d runes: %q", n, lines[0])
	}
	rows := tableRows(buf.String())
	if !strings.HasPrefix(lines[3], "node-0000 ") || !strings.HasPrefix(lines[1002], "node-0999 ") {
		t.Errorf("first and last rows: %q %q", lines[3], lines[1002])
	}
	degraded := 0
	for name, r := range rows {
		if strings.HasPrefix(name, "node-") && r[1] == "degraded" {
			degraded++
			if want := "http.service_00 critical, http.service_01 critical, +1 more"; strings.Join(r[6:], " ") != want {
				t.Errorf("%s failing %q", name, strings.Join(r[6:], " "))
			}
		}
	}
	if degraded != 100 {
		t.Errorf("%d degraded rows", degraded)
	}
	mustContainAll(t, buf.String(), "2 config hashes in the mesh: a1b2c3d4 (857 nodes), e5f6a7b8 (143 nodes)")
}

// The failing checks under the table say why, bounded in rows and width.
func TestStatusWhy(t *testing.T) {
	var probes []health.Probe
	for i := range 25 {
		probes = append(probes, health.Probe{Checker: fmt.Sprintf("disk.d%02d", i), Status: health.Blocked,
			Error: "blocked by metrics.etcd (critical) " + strings.Repeat("x", 200)})
	}
	probes = append(probes, health.Probe{Checker: "metrics.etcd", Status: health.Critical,
		Error: "wal_fsync_p99_ms 254.72 is above the critical threshold 50"})
	probes = append(probes, health.Probe{Checker: "http.etcd", Status: health.Passing})
	cs := health.ClusterOf([]health.Node{{Name: "master-1", Status: health.Degraded, Probes: probes}}, docTime)
	var b bytes.Buffer
	if err := writeStatusTable(&b, cs, false, docTime, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	mustContainAll(t, out, "CHECK         NODE      STATUS    WHY\n",
		"metrics.etcd  master-1  critical  wal_fsync_p99_ms 254.72 is above the critical threshold 50\n",
		"... and 6 more failing checks (--format json lists them all)\n")
	if strings.Contains(out, "http.etcd") {
		t.Errorf("a passing check is listed:\n%s", out)
	}
	why := out[strings.Index(out, "CHECK "):]
	if i, j := strings.Index(why, "metrics.etcd  master-1"), strings.Index(why, "disk.d00"); i < 0 || j < i {
		t.Errorf("the critical check is not first:\n%s", out)
	}
	for line := range strings.Lines(out) {
		if n := utf8.RuneCountInString(line); n > 250 {
			t.Errorf("a line of %d runes: %q", n, line)
		}
	}
}
