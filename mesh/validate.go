package mesh

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
)

// serfTagLimit is serf's limit on a member's encoded tags (memberlist's
// MetaMaxSize).
const serfTagLimit = 512

// reservedTagBytes is what the mesh adds to agent.tags (API address, peer
// port, config hash, version, boot ID), encoded, with room to spare.
const reservedTagBytes = 128

// ConfigDiagnostics checks what the mesh requires of a loaded config, so
// that validate refuses a config the mesh would refuse at start: agent.tags
// must leave the mesh's own tag keys free, and the node's tags must fit in
// serf's member metadata beside the ones the mesh adds. The errors point at
// agent.tags (no range when the config has no agent block).
func ConfigDiagnostics(cfg *dsl.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var subj *hcl.Range
	if rng := cfg.Agent.TagsRange; rng.Filename != "" {
		subj = &rng
	}
	errf := func(summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subj})
	}
	for _, k := range reservedTagKeys {
		if _, taken := cfg.Agent.Tags[k]; taken {
			errf("Reserved tag",
				"The tag %q is set by satellite itself in the mesh (%s); give this one another name.", k, strings.Join(reservedTagKeys, ", "))
		}
	}
	// serf prefixes the encoded tags with one magic byte.
	if n := msgpackMapSize(cfg.Node.Tags) + 1 + reservedTagBytes; n > serfTagLimit {
		errf("Tags too large",
			"The node's tags take %d bytes once encoded, with %d bytes kept for the tags satellite adds itself; serf allows %d bytes in all. Use fewer or shorter tags.",
			n, reservedTagBytes, serfTagLimit)
	}
	return diags
}

// msgpackMapSize is the size of a map[string]string encoded as msgpack, as
// serf encodes tags.
func msgpackMapSize(m map[string]string) int {
	str := func(s string) int {
		switch n := len(s); {
		case n < 32:
			return 1 + n
		case n < 256:
			return 2 + n
		case n < 65536:
			return 3 + n
		default:
			return 5 + n
		}
	}
	size := 1
	if len(m) >= 16 {
		size = 3
	}
	for k, v := range m {
		size += str(k) + str(v)
	}
	return size
}
