package engine

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// serfTagLimit is serf's limit on a member's encoded tags.
const serfTagLimit = 512

// reservedTagBytes is what the mesh adds to agent.tags (API address, config
// hash, version, boot ID), encoded, with room to spare.
const reservedTagBytes = 128

// MeshTagKeys returns the serf tags the mesh sets itself (the API address,
// the peer endpoint's port, the config hash, the version, the boot ID);
// agent tags may not use them.
func MeshTagKeys() []string { return []string{"api", "peer", "hash", "version", "boot"} }

// checkTags enforces serf's limit on encoded tags, and keeps the mesh's own
// tag keys free.
func (c *compiler) checkTags() {
	for _, k := range MeshTagKeys() {
		if _, taken := c.cfg.Agent.Tags[k]; taken {
			rng := c.cfg.Agent.TagsRange
			var subj *hcl.Range
			if rng.Filename != "" {
				subj = &rng
			}
			c.errf(subj, "Reserved tag",
				"The tag %q is set by satellite itself in the mesh (%s); give this one another name.", k, strings.Join(MeshTagKeys(), ", "))
		}
	}
	n := msgpackMapSize(c.cfg.Node.Tags) + 1 + reservedTagBytes
	if n > serfTagLimit {
		rng := c.cfg.Agent.TagsRange
		var subj *hcl.Range
		if rng.Filename != "" {
			subj = &rng
		}
		c.errf(subj, "Tags too large",
			"The node's tags take %d bytes once encoded, with %d bytes kept for the tags satellite adds itself; serf allows %d bytes in all. Use fewer or shorter tags.",
			n, reservedTagBytes, serfTagLimit)
	}
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
