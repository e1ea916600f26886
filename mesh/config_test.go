package mesh

import (
	"net/http"
	"strings"
	"testing"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no name":      {Config{Bind: "127.0.0.1:7946"}, "node name is empty"},
		"bad bind":     {Config{NodeName: "a", Bind: "127.0.0.1"}, "bind"},
		"bad port":     {Config{NodeName: "a", Bind: "127.0.0.1:99999"}, "not a port number"},
		"bad adv":      {Config{NodeName: "a", Bind: ":7946", Advertise: "x"}, "advertise"},
		"peer port":    {Config{NodeName: "a", Bind: ":7946", PeerPort: 70000}, "peer_port"},
		"short key":    {Config{NodeName: "a", Bind: ":7946", EncryptKey: []byte("short")}, "encryption key"},
		"profile":      {Config{NodeName: "a", Bind: ":7946", Profile: "moon"}, "unknown profile"},
		"reserved tag": {Config{NodeName: "a", Bind: ":7946", Tags: map[string]string{"hash": "x"}}, `tag "hash" is reserved`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}

func TestTagsRoundTrip(t *testing.T) {
	in := MemberTags{Role: "master", APIAddr: "10.0.0.1:7575", PeerPort: 7947, ConfigHash: "9f2c", Version: "0.1.0", Boot: 1 << 60,
		Agent: map[string]string{"zone": "eu-1"}}
	got, err := ParseTags(in.encode())
	if err != nil || got.Role != "master" || got.PeerPort != 7947 || got.Boot != 1<<60 || got.Agent["zone"] != "eu-1" || got.Agent["role"] != "master" || got.ConfigHash != "9f2c" {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = ParseTags(map[string]string{"peer": "x", "boot": "!", "role": "node"})
	if err == nil || got.Role != "node" {
		t.Fatalf("malformed tags: %+v %v", got, err)
	}
}

func TestPeerEndpointIsReadOnly(t *testing.T) {
	n := startNode(t, "a", addr(5, 1), nil)
	resp, err := http.Post("http://"+n.ip+":7947"+PeerPath, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if got := peerGet(t, n.ip, ""); got != http.StatusOK {
		t.Fatalf("GET on an open mesh: %d", got)
	}
}
