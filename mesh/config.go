// Package mesh is satellite's cluster layer: an embedded serf agent for
// membership and failure detection, compact status digests gossiped as serf
// user events, a read-only peer endpoint that serves a node's full status,
// and the cluster view built from both.
package mesh

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// Defaults for the zero values of Config.
const (
	DefaultRetryInterval   = 30 * time.Second
	DefaultRefreshInterval = 60 * time.Second
	DefaultPeerTimeout     = 2 * time.Second
	// DefaultDebounce bounds how often Notify publishes: a burst of state
	// changes (a reload, a dependency failing) becomes one digest.
	DefaultDebounce = 150 * time.Millisecond
)

// Memberlist timing profiles (Config.Profile).
const (
	// ProfileLAN is memberlist's LAN profile: failure detection in a few
	// seconds, suited to one datacenter.
	ProfileLAN = "lan"
	// ProfileWAN is memberlist's WAN profile: slower probes for high latency.
	ProfileWAN = "wan"
	// ProfileLocal is memberlist's loopback profile: fast detection, for
	// tests and benchmarks on one machine.
	ProfileLocal = "local"
)

// Config is what the agent gives the mesh. Zero tunables take sane defaults.
type Config struct {
	// NodeName is this node's unique name in the mesh.
	NodeName string
	// Bind is the serf gossip address, host:port (TCP and UDP).
	Bind string
	// Advertise is the address peers use, host:port; "" derives it from
	// Bind as memberlist does (the first private address when Bind is 0.0.0.0).
	Advertise string
	// PeerPort is the port of the read-only peer endpoint, served on the
	// bind host and advertised on the advertised host.
	PeerPort int
	// Join lists addresses tried at start, and again with a backoff until
	// one answers.
	Join []string
	// RetryJoin lists addresses tried every RetryInterval, forever, while
	// one of them is not an alive member (this is what heals a partition
	// that outlived ReconnectTimeout).
	RetryJoin []string
	// RetryInterval is the retry_join period (default 30s).
	RetryInterval time.Duration
	// EncryptKey is the gossip key (16, 24 or 32 bytes); nil leaves the
	// mesh open, which the mesh logs as a warning at start.
	EncryptKey []byte
	// TLS, when set, serves the peer endpoint over mutual TLS and reads
	// peers' endpoints over it (TLSFiles says what the certificates must
	// hold). The files are read once, by New.
	TLS *TLSFiles
	// DataDir holds DataDir/mesh/serf.snapshot and DataDir/mesh/keyring.json.
	DataDir string

	// Role, Tags, APIAddr, ConfigHash and Version become serf tags.
	Role       string
	Tags       map[string]string
	APIAddr    string
	ConfigHash string
	Version    string

	// Local returns this node's full status, for the peer endpoint and digests.
	Local func() health.Node
	// Health returns the agent's sink backlog and drop count for digests; nil reports zeros.
	Health func() (backlog, dropped uint64)
	// OnApp receives the app events members gossip (PublishApp, this
	// node's own included), on the mesh's event goroutine: it must not
	// block. The payload is the sender's, unchecked: any holder of the
	// gossip key can send one.
	OnApp func(kind string, payload []byte)
	// AppState answers GET /v1/peer/app/KIND on the peer endpoint (ReadApp
	// on another member): the whole state of an app kind, for a node that
	// missed its events (it was down, or apart). nil, or ok false, is 404.
	AppState func(kind string) (state []byte, ok bool)
	// OnEvent receives cluster events (on the mesh's event goroutine: do
	// not block; publish them on the events bus).
	OnEvent func(*events.Event)
	// Logger gets the mesh's logs, serf's and memberlist's included.
	Logger hclog.Logger

	// Profile is the memberlist timing profile: lan (default), wan or local.
	Profile string
	// ReconnectTimeout is how long serf keeps reconnecting to a failed
	// member before reaping it (serf default 24h).
	ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a left member is remembered (serf default 24h).
	TombstoneTimeout time.Duration
	// RefreshInterval is the period of the unconditional digest (default
	// 60s); a member whose digest is three periods old is stale.
	RefreshInterval time.Duration
	// WatchInterval is how often a node reads the members it watches
	// (default 15s); a hung member is reported after two failed reads.
	WatchInterval time.Duration
	// PeerTimeout bounds one fetch from a peer endpoint (default 2s).
	PeerTimeout time.Duration
	// Debounce is the minimum gap between two digests (default 150ms).
	Debounce time.Duration
	// Transport replaces memberlist's network transport (benchmarks use the
	// in-memory one); nil uses UDP and TCP on Bind.
	Transport memberlist.NodeAwareTransport
	// Tune, when set, may adjust the memberlist config last (tests, benchmarks).
	Tune func(*memberlist.Config)

	// antiEntropyEvery is the anti-entropy period (tests shorten it).
	antiEntropyEvery time.Duration
	// maxFetches bounds the background fetcher's reads in flight (default
	// maxFetches; the 1,000-node benchmark, whose agents share one
	// process's descriptors, lowers it).
	maxFetches int
	// noFetch turns the background fetcher off (the benchmark above, whose
	// 1,000 agents would otherwise read each other's full status a million
	// times on two cores while they form).
	noFetch bool
	// noDigestEvents ignores the digests and notices other nodes gossip
	// (tests of the other paths).
	noDigestEvents bool
}

func (c *Config) setDefaults() {
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.WatchInterval <= 0 {
		c.WatchInterval = DefaultWatchInterval
	}
	if c.PeerTimeout <= 0 {
		c.PeerTimeout = DefaultPeerTimeout
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.maxFetches <= 0 {
		c.maxFetches = maxFetches
	}
	if c.antiEntropyEvery <= 0 {
		c.antiEntropyEvery = antiEntropyInterval
	}
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Local == nil {
		c.Local = func() health.Node { return health.Node{Name: c.NodeName, Status: health.NodeUnknown} }
	}
}

func (c *Config) validate() error {
	if c.NodeName == "" {
		return fmt.Errorf("mesh: node name is empty")
	}
	if _, _, err := splitHostPort(c.Bind); err != nil {
		return fmt.Errorf("mesh: bind %q: %w", c.Bind, err)
	}
	if c.Advertise != "" {
		if _, _, err := splitHostPort(c.Advertise); err != nil {
			return fmt.Errorf("mesh: advertise %q: %w", c.Advertise, err)
		}
	}
	if c.PeerPort < 0 || c.PeerPort > 65535 {
		return fmt.Errorf("mesh: peer_port %d is not a port", c.PeerPort)
	}
	if c.EncryptKey != nil {
		if err := memberlist.ValidateKey(c.EncryptKey); err != nil {
			return fmt.Errorf("mesh: encryption key: %w", err)
		}
	}
	switch c.Profile {
	case ProfileLAN, ProfileWAN, ProfileLocal:
	default:
		return fmt.Errorf("mesh: unknown profile %q (lan, wan or local)", c.Profile)
	}
	for k := range c.Tags {
		if reservedTags[k] {
			return fmt.Errorf("mesh: tag %q is reserved for the mesh itself", k)
		}
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("port %q is not a port number", ps)
	}
	return host, p, nil
}
