package mesh

import (
	"fmt"
	"strconv"
)

// Serf tag keys the mesh sets itself; agent tags may not use them.
const (
	tagRole    = "role"
	tagAPI     = "api"
	tagPeer    = "peer"
	tagHash    = "hash"
	tagVersion = "version"
	tagBoot    = "boot"
)

// reservedTagKeys are the tags the mesh sets itself, in the order
// ConfigDiagnostics names them; agent tags may not use them. role is not
// one: it is an agent tag the mesh reads.
var reservedTagKeys = []string{tagAPI, tagPeer, tagHash, tagVersion, tagBoot}

// reservedTags is reservedTagKeys as a set.
var reservedTags = func() map[string]bool {
	m := make(map[string]bool, len(reservedTagKeys))
	for _, k := range reservedTagKeys {
		m[k] = true
	}
	return m
}()

// MemberTags is a member's serf tags, parsed.
type MemberTags struct {
	Role       string
	APIAddr    string
	PeerPort   int
	ConfigHash string
	Version    string
	Boot       uint64
	// Agent holds the agent tags (role included), for only_on and display.
	Agent map[string]string
}

func (t MemberTags) encode() map[string]string {
	m := make(map[string]string, len(t.Agent)+6)
	for k, v := range t.Agent {
		m[k] = v
	}
	if t.Role != "" {
		m[tagRole] = t.Role
	}
	if t.APIAddr != "" {
		m[tagAPI] = t.APIAddr
	}
	if t.PeerPort != 0 {
		m[tagPeer] = strconv.Itoa(t.PeerPort)
	}
	if t.ConfigHash != "" {
		m[tagHash] = t.ConfigHash
	}
	if t.Version != "" {
		m[tagVersion] = t.Version
	}
	m[tagBoot] = strconv.FormatUint(t.Boot, 36)
	return m
}

// IsSatellite reports whether a member's tags are a satellite agent's. Every
// agent sets a boot tag; a member without a valid one (a plain serf agent
// that joined the same gossip pool) is foreign: it is listed, but it counts
// neither towards the cluster's status nor as a peer of the peers and clock
// checks.
func IsSatellite(tags map[string]string) bool {
	b, ok := tags[tagBoot]
	if !ok || b == "" {
		return false
	}
	_, err := strconv.ParseUint(b, 36, 64)
	return err == nil
}

// tagBootOf is the boot ID in a member's tags, 0 when there is none.
func tagBootOf(tags map[string]string) uint64 {
	b, _ := strconv.ParseUint(tags[tagBoot], 36, 64)
	return b
}

// ParseTags reads a member's serf tags. A malformed value is an error, but
// the rest is still returned: a member from a newer or broken version must
// still show up.
func ParseTags(m map[string]string) (MemberTags, error) {
	t := MemberTags{Agent: map[string]string{}}
	var err error
	for k, v := range m {
		switch k {
		case tagRole:
			t.Role = v
			t.Agent[k] = v
		case tagAPI:
			t.APIAddr = v
		case tagPeer:
			p, e := strconv.Atoi(v)
			if e != nil || p <= 0 || p > 65535 {
				err = fmt.Errorf("tag %s=%q is not a port", k, v)
				continue
			}
			t.PeerPort = p
		case tagHash:
			t.ConfigHash = v
		case tagVersion:
			t.Version = v
		case tagBoot:
			b, e := strconv.ParseUint(v, 36, 64)
			if e != nil {
				err = fmt.Errorf("tag %s=%q is not a boot id", k, v)
				continue
			}
			t.Boot = b
		default:
			t.Agent[k] = v
		}
	}
	return t, err
}
