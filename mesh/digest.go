package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// digestEvent is the serf user event that carries digests. One name for all
// nodes, sent with coalescing off, so serf never merges two nodes' digests;
// the node is in the payload.
const digestEvent = "satellite:digest"

// digestFormat is the major version of the digest encoding, its first byte.
// Within a major version fields are only added (JSON ignores unknown ones),
// so mixed versions read each other during a rolling upgrade; a reader
// ignores a digest of a newer major version and relies on the peer endpoint.
const digestFormat = 1

// maxDigestPayload keeps the whole serf message (type byte, msgpack of
// LTime, Name, Payload, CC: at most 40 bytes, plus the event name) within
// serf's 512-byte user-event limit, so a digest always fits one gossip packet.
const maxDigestPayload = 512 - 40 - len(digestEvent)

// maxNameLen caps one check name in a digest, so one long name cannot push
// out all the others.
const maxNameLen = 48

// errNewerFormat marks a digest from a newer major version.
var errNewerFormat = errors.New("digest from a newer format version")

// Counts is how many checks are in each state.
type Counts struct {
	Passing  int `json:"p,omitempty"`
	Warning  int `json:"w,omitempty"`
	Critical int `json:"c,omitempty"`
	Blocked  int `json:"b,omitempty"`
	Unknown  int `json:"u,omitempty"`
}

// Digest is the compact status a node gossips about itself.
type Digest struct {
	Node string `json:"n"`
	// Boot and Seq order digests: a higher boot (a restart) wins, then a
	// higher sequence.
	Boot uint64 `json:"b"`
	Seq  uint64 `json:"q"`
	// Time is the sender's clock in Unix milliseconds, for display only:
	// staleness is judged by arrival.
	Time   int64            `json:"t"`
	Status health.NodeState `json:"s"`
	Counts Counts           `json:"c"`
	// NotPassing maps a state's one-letter code (stateCode) to the checks
	// in it, worst state kept first when truncated; More counts the names
	// left out to fit.
	NotPassing map[string][]string `json:"f,omitempty"`
	More       int                 `json:"m,omitempty"`
	ConfigHash string              `json:"h,omitempty"`
	Version    string              `json:"v,omitempty"`
	// SinkBacklog and SinkDropped are the agent's own health.
	SinkBacklog uint64 `json:"sb,omitempty"`
	SinkDropped uint64 `json:"sd,omitempty"`
}

// Newer reports whether d supersedes o.
func (d Digest) Newer(o Digest) bool {
	if d.Boot != o.Boot {
		return d.Boot > o.Boot
	}
	return d.Seq > o.Seq
}

// stateCode is a non-passing state's key in Digest.NotPassing: one letter,
// because every byte of the 512 counts.
var stateCode = map[checks.Status]string{checks.StatusCritical: "c", checks.StatusBlocked: "b", checks.StatusWarning: "w", checks.StatusUnknown: "u"}

// notPassingOrder is the order names are kept in when a digest is truncated.
var notPassingOrder = []checks.Status{checks.StatusCritical, checks.StatusBlocked, checks.StatusWarning, checks.StatusUnknown}

// digestOf summarises a node status.
func digestOf(ns health.Node, boot, seq uint64, now time.Time) (Digest, []nameState) {
	d := Digest{Node: ns.Name, Boot: boot, Seq: seq, Time: now.UnixMilli(), Status: ns.Status,
		ConfigHash: clip(ns.ConfigHash, 16), Version: clip(ns.Version, 24)}
	var names []nameState
	for _, p := range ns.Probes {
		switch p.Status {
		case checks.StatusPassing:
			d.Counts.Passing++
			continue
		case checks.StatusWarning:
			d.Counts.Warning++
		case checks.StatusCritical:
			d.Counts.Critical++
		case checks.StatusBlocked:
			d.Counts.Blocked++
		default:
			d.Counts.Unknown++
		}
		st := p.Status
		if stateCode[st] == "" {
			st = checks.StatusUnknown
		}
		names = append(names, nameState{clip(p.Checker, maxNameLen), st})
	}
	rank := map[checks.Status]int{}
	for i, s := range notPassingOrder {
		rank[s] = i
	}
	sort.Slice(names, func(i, j int) bool {
		if names[i].status != names[j].status {
			return rank[names[i].status] < rank[names[j].status]
		}
		return names[i].name < names[j].name
	})
	return d, names
}

type nameState struct {
	name   string
	status checks.Status
}

// encodeDigest encodes d with as many of names as fit in maxDigestPayload;
// the rest are counted in More.
func encodeDigest(d Digest, names []nameState) ([]byte, error) {
	// Grow the kept prefix while it fits: names are short, so a linear
	// search costs less than the encodings a bisection would save.
	best, err := encodeWith(d, names, 0)
	if err != nil {
		return nil, err
	}
	if len(best) > maxDigestPayload {
		return nil, fmt.Errorf("digest of %s is %d bytes even without check names (limit %d)", d.Node, len(best), maxDigestPayload)
	}
	lo, hi := 0, len(names)
	for lo < hi { // the largest k whose encoding fits
		k := (lo + hi + 1) / 2
		b, err := encodeWith(d, names, k)
		if err != nil {
			return nil, err
		}
		if len(b) <= maxDigestPayload {
			lo, best = k, b
		} else {
			hi = k - 1
		}
	}
	return best, nil
}

func encodeWith(d Digest, names []nameState, k int) ([]byte, error) {
	d.NotPassing = nil
	if k > 0 {
		d.NotPassing = map[string][]string{}
		for _, n := range names[:k] {
			code := stateCode[n.status]
			d.NotPassing[code] = append(d.NotPassing[code], n.name)
		}
	}
	d.More = len(names) - k
	j, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding digest: %w", err)
	}
	return append([]byte{digestFormat}, j...), nil
}

// decodeDigest reads a digest payload.
func decodeDigest(b []byte) (Digest, error) {
	var d Digest
	if len(b) == 0 {
		return d, errors.New("empty digest")
	}
	if b[0] > digestFormat {
		return d, fmt.Errorf("%w (%d, this node reads %d)", errNewerFormat, b[0], digestFormat)
	}
	if b[0] != digestFormat {
		return d, fmt.Errorf("unknown digest format %d", b[0])
	}
	if err := json.Unmarshal(b[1:], &d); err != nil {
		return d, fmt.Errorf("decoding digest: %w", err)
	}
	if d.Node == "" {
		return d, errors.New("digest without a node name")
	}
	return d, nil
}

// probes renders the digest's non-passing checks as probes, for a member
// whose full status could never be fetched.
func (d Digest) probes() []health.Probe {
	var out []health.Probe
	for _, s := range notPassingOrder {
		for _, n := range d.NotPassing[stateCode[s]] {
			out = append(out, health.Probe{Checker: n, Type: checkType(n), Status: s})
		}
	}
	if d.More > 0 {
		out = append(out, health.Probe{Checker: fmt.Sprintf("+%d more", d.More), Status: checks.StatusUnknown,
			Detail: "not passing; left out of the digest to fit serf's 512-byte event"})
	}
	return out
}

// overlay updates a full probe list fetched earlier with a newer digest:
// checks the digest names take its state, the others are passing unless the
// digest was truncated (then their last known state is kept), and checks it
// names that the list lacks are added. The probes keep their other fields
// (type, metrics) from the fetch.
func (d Digest) overlay(probes []health.Probe) []health.Probe {
	state := map[string]checks.Status{}
	for _, s := range notPassingOrder {
		for _, n := range d.NotPassing[stateCode[s]] {
			state[n] = s
		}
	}
	out := make([]health.Probe, 0, len(probes)+len(state))
	seen := make(map[string]bool, len(probes))
	for _, p := range probes {
		seen[p.Checker] = true
		switch s, ok := state[p.Checker]; {
		case ok && s != p.Status:
			p.Status, p.Since, p.Error, p.Detail = s, nil, "", "state from gossip; details unknown"
		case !ok && d.More == 0 && p.Status != checks.StatusPassing:
			p.Status, p.Since, p.Error, p.Detail = checks.StatusPassing, nil, "", "state from gossip"
		}
		out = append(out, p)
	}
	for _, p := range d.probes() {
		if !seen[p.Checker] {
			out = append(out, p)
		}
	}
	return out
}

// checkType is the type part of a check address ("http.api" is an http check).
func checkType(addr string) string {
	if i := strings.IndexByte(addr, '.'); i > 0 {
		return addr[:i]
	}
	return ""
}

// clip cuts s to n bytes without leaving half a UTF-8 character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// contentKey is what a digest says of the node's state, without its
// ordering and timestamp: two digests with the same key tell the same
// state, so a refresh digest does not make the full status be read again.
func (d Digest) contentKey() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d,%d,%d,%d,%d|%d|%s|%s", d.Status, d.Counts.Passing, d.Counts.Warning, d.Counts.Critical,
		d.Counts.Blocked, d.Counts.Unknown, d.More, d.ConfigHash, d.Version)
	for _, s := range notPassingOrder {
		for _, n := range d.NotPassing[stateCode[s]] {
			b.WriteString("|" + stateCode[s] + ":" + n)
		}
	}
	return b.String()
}
