package mesh

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/dsl"
)

func loadSource(t *testing.T, src string, opts dsl.Options) *dsl.Config {
	t.Helper()
	opts.LookupEnv = func(string) (string, bool) { return "", false }
	opts.Hostname = func() (string, error) { return "test-host", nil }
	cfg, diags := dsl.LoadSource("mesh.hcl", []byte(src), opts)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return cfg
}

// The keys validate refuses in agent.tags are exactly the ones the mesh
// writes into a member's tags itself (role aside, which is an agent tag).
func TestReservedTagsAreTheMeshsOwn(t *testing.T) {
	all := MemberTags{Role: "r", APIAddr: "a:1", PeerPort: 2, ConfigHash: "h", Version: "v", Boot: 3}.encode()
	var own []string
	for k := range all {
		if k != tagRole {
			own = append(own, k)
		}
	}
	sort.Strings(own)
	reserved := append([]string(nil), reservedTagKeys...)
	sort.Strings(reserved)
	if fmt.Sprint(own) != fmt.Sprint(reserved) {
		t.Fatalf("the mesh sets %v itself, validate refuses %v", own, reserved)
	}
	if len(reservedTags) != len(reservedTagKeys) {
		t.Fatalf("reservedTags %v, reservedTagKeys %v", reservedTags, reservedTagKeys)
	}
}

func TestConfigDiagnosticsReservedTags(t *testing.T) {
	cfg := loadSource(t, "agent {\n  name = \"n\"\n  tags = { role = \"worker\", hash = \"x\", boot = \"y\" }\n}\n", dsl.Options{})
	diags := ConfigDiagnostics(cfg)
	if len(diags) != 2 {
		t.Fatalf("want one error per reserved key, got %v", diags)
	}
	for i, k := range []string{"hash", "boot"} {
		d := diags[i]
		if d.Summary != "Reserved tag" || !strings.Contains(d.Detail, fmt.Sprintf("%q", k)) {
			t.Errorf("error %d: %s: %s", i, d.Summary, d.Detail)
		}
		if d.Subject == nil || d.Subject.Filename != "mesh.hcl" || d.Subject.Start.Line != 3 {
			t.Errorf("error %d should point at agent.tags: %v", i, d.Subject)
		}
	}
	if cfg := loadSource(t, "agent {\n  tags = { role = \"worker\", zone = \"eu\" }\n}\n", dsl.Options{}); len(ConfigDiagnostics(cfg)) != 0 {
		t.Fatalf("ordinary tags refused: %v", ConfigDiagnostics(cfg))
	}
}

// The size limit counts node.tags, which validate --tags replaces; without
// an agent block the error has no place to point at.
func TestConfigDiagnosticsTagsTooLarge(t *testing.T) {
	tags := func(bytes int) map[string]string {
		// One tag whose encoding, with the map header, takes bytes:
		// 1 (map) + 2 ("k") + 3+len (a value of 256 bytes or more).
		return map[string]string{"k": strings.Repeat("v", bytes-6)}
	}
	limit := serfTagLimit - 1 - reservedTagBytes
	if got := msgpackMapSize(tags(limit)); got != limit {
		t.Fatalf("msgpackMapSize = %d, want %d", got, limit)
	}
	cfg := loadSource(t, "check \"tcp\" \"a\" {\n  address = \"127.0.0.1:1\"\n}\n", dsl.Options{NodeTags: tags(limit)})
	if diags := ConfigDiagnostics(cfg); len(diags) != 0 {
		t.Fatalf("tags at the limit refused: %v", diags)
	}
	cfg = loadSource(t, "check \"tcp\" \"a\" {\n  address = \"127.0.0.1:1\"\n}\n", dsl.Options{NodeTags: tags(limit + 1)})
	diags := ConfigDiagnostics(cfg)
	if len(diags) != 1 || diags[0].Summary != "Tags too large" || !strings.Contains(diags[0].Detail, "serf allows 512 bytes") {
		t.Fatalf("tags over the limit: %v", diags)
	}
	if diags[0].Subject != nil {
		t.Fatalf("no agent block, yet the error points at %v", diags[0].Subject)
	}
}

// msgpackMapSize follows msgpack's size classes for strings and maps.
func TestMsgpackMapSize(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]string
		want int
	}{
		{nil, 1},
		{map[string]string{"a": ""}, 1 + 2 + 1},
		{map[string]string{"a": strings.Repeat("x", 31)}, 1 + 2 + 32},
		{map[string]string{"a": strings.Repeat("x", 32)}, 1 + 2 + 34},
		{map[string]string{"a": strings.Repeat("x", 65536)}, 1 + 2 + 5 + 65536},
	} {
		if got := msgpackMapSize(tc.m); got != tc.want {
			t.Errorf("%d tags (value of %d bytes): %d, want %d", len(tc.m), len(tc.m["a"]), got, tc.want)
		}
	}
	big := map[string]string{}
	for i := range 16 {
		big[fmt.Sprintf("k%02d", i)] = ""
	}
	if got := msgpackMapSize(big); got != 3+16*(4+1) {
		t.Errorf("16 tags: %d", got)
	}
}
