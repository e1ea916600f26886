package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/events"
)

// received is the newest digest of a member and when it arrived.
type received struct {
	d  Digest
	at time.Time
}

// Mesh is this node's membership in the satellite mesh.
type Mesh struct {
	cfg  Config
	log  hclog.Logger
	boot uint64

	notify chan struct{}
	// fullSync asks the anti-entropy loop for a full read of a peer's
	// digests (wantFullSync).
	fullSync chan string
	// fanoutCh asks the fan-out loop to push this node's digest.
	fanoutCh chan struct{}
	// fannedBoot and fannedKey are what the last fan-out said.
	fannedBoot uint64
	fannedKey  string
	// fanDigest and fanNotices are what the next fan-out round sends.
	fanDigest  bool
	fanNotices map[string]noticeEntry
	client     *http.Client
	tls        *peerTLS // nil without TLS
	nonces     *nonceCache
	stats      counters
	// The warnings a peer can cause at will, rate-limited.
	malformedWarn, peerWarn, serverWarn *limitedWarn

	mu      sync.Mutex
	serf    *serf.Serf
	keyring *memberlist.Keyring
	seq     uint64
	digests map[string]received
	// peers is what the background fetcher and the watches know of each
	// satellite peer (its full status, whether its endpoint answers).
	peers map[string]*peerState
	// pending holds, per member, a digest whose boot is newer than the
	// member's boot tag as this node knows it: the restarted member's tags
	// may arrive after its first digest. It is applied when the tags
	// confirm the boot, and never otherwise.
	pending map[string][]Digest
	// downs are the newest unreachability notices, by member.
	downs map[string]notice
	// known is the config hash and boot each member last announced in its
	// tags; its keys are the members as the member events have told them
	// (a member is forgotten when reaped).
	known   map[string]knownMember
	running bool
	// onDigest, set by benchmarks before Run, sees every newer digest stored.
	onDigest func(d Digest, at time.Time)
	// own is the digest this node last gossiped (nil before the first).
	own *Digest
}

// New checks cfg and prepares a mesh; Run starts it.
func New(cfg Config) (*Mesh, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var pt *peerTLS
	if cfg.TLS != nil {
		var err error
		if pt, err = loadPeerTLS(*cfg.TLS, cfg.NodeName); err != nil {
			return nil, err
		}
	}
	dialer := &net.Dialer{Timeout: cfg.PeerTimeout}
	tr := &http.Transport{
		DialContext: dialer.DialContext,
		// Idle connections are kept for the few members this node watches
		// (read every WatchInterval); the background fetcher's reads go to
		// any member, and keeping one open to each of 1,000 peers would hold
		// 2,000 descriptors across the mesh's two ends.
		MaxIdleConns:          8,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       2 * DefaultWatchInterval,
		ResponseHeaderTimeout: cfg.PeerTimeout,
		Proxy:                 nil, // peers are reached directly, never through an environment proxy
	}
	if pt != nil {
		tr.DialTLSContext = pt.dialTLS(dialer)
	}
	return &Mesh{
		cfg: cfg, log: cfg.Logger.Named("mesh"),
		tls:           pt,
		nonces:        newNonceCache(maxSeenNonces),
		malformedWarn: newLimitedWarn(warnInterval),
		peerWarn:      newLimitedWarn(warnInterval),
		serverWarn:    newLimitedWarn(warnInterval),
		// A boot ID from the clock orders a restarted node's digests after
		// its previous life's, without state on disk.
		boot:       uint64(time.Now().UnixNano()),
		notify:     make(chan struct{}, 1),
		fullSync:   make(chan string, 1),
		fanoutCh:   make(chan struct{}, 1),
		fanNotices: map[string]noticeEntry{},
		client:     &http.Client{Transport: tr, Timeout: cfg.PeerTimeout},
		digests:    map[string]received{},
		peers:      map[string]*peerState{},
		pending:    map[string][]Digest{},
		downs:      map[string]notice{},
		known:      map[string]knownMember{},
	}, nil
}

// Notify tells the mesh that the local state changed; it publishes a fresh
// digest soon (at most one per Config.Debounce). It never blocks.
func (m *Mesh) Notify() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Boot is this run's boot ID, the first key of digest ordering.
func (m *Mesh) Boot() uint64 { return m.boot }

func (m *Mesh) dir() string { return filepath.Join(m.cfg.DataDir, "mesh") }

func (m *Mesh) serfConfig(events chan<- serf.Event) (*serf.Config, error) {
	conf := serf.DefaultConfig()
	switch m.cfg.Profile {
	case ProfileWAN:
		conf.MemberlistConfig = memberlist.DefaultWANConfig()
	case ProfileLocal:
		conf.MemberlistConfig = memberlist.DefaultLocalConfig()
	default:
		conf.MemberlistConfig = memberlist.DefaultLANConfig()
	}
	ml := conf.MemberlistConfig
	conf.NodeName = m.cfg.NodeName
	ml.Name = m.cfg.NodeName
	conf.EventCh = events
	conf.RejoinAfterLeave = true
	// Member events are coalesced so a mass failure is one burst; user
	// events are never coalesced (they are sent with coalesce=false anyway).
	conf.CoalescePeriod = 3 * time.Second
	conf.QuiescentPeriod = time.Second
	if m.cfg.Profile == ProfileLocal {
		conf.CoalescePeriod, conf.QuiescentPeriod = 200*time.Millisecond, 100*time.Millisecond
	}
	if m.cfg.ReconnectTimeout > 0 {
		conf.ReconnectTimeout = m.cfg.ReconnectTimeout
		conf.ReapInterval = min(conf.ReapInterval, m.cfg.ReconnectTimeout/2)
		conf.ReconnectInterval = min(conf.ReconnectInterval, m.cfg.ReconnectTimeout/2)
	}
	if m.cfg.TombstoneTimeout > 0 {
		conf.TombstoneTimeout = m.cfg.TombstoneTimeout
	}
	// The event buffer is also sent in every push-pull: a smaller one keeps
	// push-pull small while still covering minutes of digests.
	conf.EventBuffer = 128
	conf.MsgpackUseNewTimeFormat = true

	tags := MemberTags{Role: m.cfg.Role, Agent: m.cfg.Tags, APIAddr: m.cfg.APIAddr, PeerPort: m.cfg.PeerPort,
		ConfigHash: m.cfg.ConfigHash, Version: m.cfg.Version, Boot: m.boot}
	conf.Tags = tags.encode()

	std := m.cfg.Logger.Named("serf").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true})
	conf.Logger = std
	ml.Logger = m.cfg.Logger.Named("memberlist").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true})

	host, port, _ := splitHostPort(m.cfg.Bind)
	ml.BindAddr, ml.BindPort = host, port
	ml.AdvertisePort = port
	if m.cfg.Advertise != "" {
		ah, ap, _ := splitHostPort(m.cfg.Advertise)
		ml.AdvertiseAddr, ml.AdvertisePort = ah, ap
	}
	inner := m.cfg.Transport
	if inner == nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: ml.Logger})
		if err != nil {
			return nil, fmt.Errorf("mesh: gossip transport on %s: %w", m.cfg.Bind, err)
		}
		if port == 0 {
			ml.BindPort = nt.GetAutoBindPort()
			if m.cfg.Advertise == "" {
				ml.AdvertisePort = ml.BindPort
			}
		}
		inner = nt
	}
	ml.Transport = newCountingTransport(inner, &m.stats.BytesIn, &m.stats.BytesOut)
	if m.cfg.DataDir != "" {
		if err := os.MkdirAll(m.dir(), 0o700); err != nil {
			return nil, fmt.Errorf("mesh data dir: %w", err)
		}
		conf.SnapshotPath = filepath.Join(m.dir(), "serf.snapshot")
	}
	if m.cfg.EncryptKey != nil {
		kr, err := m.loadKeyring()
		if err != nil {
			return nil, err
		}
		ml.Keyring = kr
		m.keyring = kr
		if m.cfg.DataDir != "" {
			conf.KeyringFile = filepath.Join(m.dir(), "keyring.json")
		}
	} else {
		endpoint := "the peer endpoint needs no token"
		if m.tls != nil {
			endpoint = "the peer endpoint needs only a certificate from mesh.tls.ca_file"
		}
		m.log.Warn("the mesh is not encrypted: anyone who can reach the gossip port can join, and " + endpoint + "; set mesh.encrypt_key_file")
	}
	if m.cfg.Tune != nil {
		m.cfg.Tune(ml)
	}
	return conf, nil
}

// loadKeyring prefers the keyring serf saved after a rotation, so a
// restarted node keeps the rotated keys; the configured key is then ignored.
func (m *Mesh) loadKeyring() (*memberlist.Keyring, error) {
	path := filepath.Join(m.dir(), "keyring.json")
	b, err := os.ReadFile(path)
	if m.cfg.DataDir == "" || errors.Is(err, os.ErrNotExist) {
		return memberlist.NewKeyring(nil, m.cfg.EncryptKey)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the mesh keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil || len(encoded) == 0 {
		return nil, fmt.Errorf("mesh keyring %s is not a JSON list of keys (remove it to start from encrypt_key_file)", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, e := range encoded {
		k, err := DecodeKey(e)
		if err != nil {
			return nil, fmt.Errorf("mesh keyring %s, key %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	m.log.Info("using the saved mesh keyring; encrypt_key_file is only read when there is none", "path", path, "keys", len(keys))
	return memberlist.NewKeyring(keys, keys[0])
}

// Run starts serf, the peer endpoint, the event loop, the publisher, the
// joins, the background fetcher, the watcher and anti-entropy, and blocks
// until ctx is done; then it leaves the mesh (bounded by serf's broadcast
// timeout) and shuts everything down.
func (m *Mesh) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("mesh: Run called twice")
	}
	m.running = true
	m.mu.Unlock()

	var ln net.Listener
	if m.cfg.PeerPort > 0 {
		host, _, _ := splitHostPort(m.cfg.Bind)
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(m.cfg.PeerPort)))
		if err != nil {
			return fmt.Errorf("mesh: peer endpoint: %w", err)
		}
	}
	events := make(chan serf.Event, 1024)
	conf, err := m.serfConfig(events)
	if err != nil {
		closeQuietly(ln)
		return err
	}
	s, err := serf.Create(conf)
	if err != nil {
		closeQuietly(ln)
		return fmt.Errorf("mesh: starting serf: %w", err)
	}
	m.mu.Lock()
	m.serf = s
	m.mu.Unlock()
	m.log.Info("mesh started", "node", m.cfg.NodeName, "bind", m.cfg.Bind, "encrypted", s.EncryptionEnabled(), "peer_port", m.cfg.PeerPort, "peer_tls", m.tls != nil)

	loopCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var srv *http.Server
	if ln != nil {
		srv = m.peerServer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve := func() error { return srv.Serve(ln) }
			if m.tls != nil {
				// The certificate is in srv.TLSConfig.
				serve = func() error { return srv.ServeTLS(ln, "", "") }
			}
			if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.log.Error("peer endpoint stopped", "error", err)
			}
		}()
	}
	wg.Add(8)
	go func() { defer wg.Done(); m.fanout(loopCtx) }()
	go func() { defer wg.Done(); m.eventLoop(loopCtx, events) }()
	go func() { defer wg.Done(); m.publisher(loopCtx) }()
	go func() { defer wg.Done(); m.join(loopCtx) }()
	go func() { defer wg.Done(); m.retryJoin(loopCtx) }()
	go func() {
		defer wg.Done()
		if !m.cfg.noFetch {
			m.fetcher(loopCtx)
		}
	}()
	go func() { defer wg.Done(); m.watcher(loopCtx) }()
	go func() { defer wg.Done(); m.antiEntropy(loopCtx) }()
	m.Notify()

	<-ctx.Done()
	// Publishing stops first so that no digest follows the leave.
	stop()
	if err := s.Leave(); err != nil {
		m.log.Warn("leaving the mesh", "error", err)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			m.log.Warn("stopping the peer endpoint", "error", err)
		}
		cancel()
	}
	if err := s.Shutdown(); err != nil {
		m.log.Warn("stopping serf", "error", err)
	}
	wg.Wait()
	m.client.CloseIdleConnections()
	m.log.Info("mesh stopped")
	return nil
}

func closeQuietly(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}

func (m *Mesh) getSerf() *serf.Serf {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.serf
}

// eventLoop is the one consumer of serf's events.
func (m *Mesh) eventLoop(ctx context.Context, events <-chan serf.Event) {
	// The rate-limited warnings report their last counts even when nothing
	// more comes.
	flush := time.NewTicker(warnInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			m.malformedWarn.flush()
			m.peerWarn.flush()
			m.serverWarn.flush()
		case e := <-events:
			switch ev := e.(type) {
			case serf.MemberEvent:
				m.memberEvent(ev)
			case serf.UserEvent:
				m.userEvent(ev)
			case *serf.Query:
				m.query(ev)
			default:
				m.log.Warn("unknown serf event", "type", fmt.Sprintf("%T", e), "event", e.String())
			}
		}
	}
}

func (m *Mesh) memberEvent(ev serf.MemberEvent) {
	var kind events.Kind
	switch ev.Type {
	case serf.EventMemberJoin:
		kind = events.MemberJoined
	case serf.EventMemberLeave:
		kind = events.MemberLeft
	case serf.EventMemberFailed:
		kind = events.MemberFailed
	case serf.EventMemberUpdate:
		kind = events.MemberUpdated
	case serf.EventMemberReap:
		kind = events.MemberReaped
	default:
		m.log.Warn("unknown serf member event", "type", ev.Type.String())
		return
	}
	now := time.Now()
	healed := ""
	for _, mem := range ev.Members {
		if mem.Name == m.cfg.NodeName {
			continue
		}
		m.log.Info("member "+kind.String(), "member", mem.Name, "addr", mem.Addr.String())
		hash := mem.Tags[tagHash]
		boot, _ := ParseTags(mem.Tags)
		m.mu.Lock()
		old, known := m.known[mem.Name]
		var confirmed *Digest
		if kind == events.MemberReaped {
			// Reaped members leave the view; forget them to bound memory.
			delete(m.digests, mem.Name)
			delete(m.peers, mem.Name)
			delete(m.pending, mem.Name)
			delete(m.downs, mem.Name)
			delete(m.known, mem.Name)
		} else {
			apart := kind == events.MemberFailed || kind == events.MemberLeft
			if kind == events.MemberUpdated {
				apart = old.apart
			}
			since := now
			if known && old.boot == boot.Boot {
				since = old.since
			}
			m.known[mem.Name] = knownMember{hash: hash, boot: boot.Boot, apart: apart, since: since}
			confirmed = m.confirmLocked(mem.Name, boot.Boot)
			// Back with the boot it had when it went: it did not restart,
			// it was apart (a partition, or a false failure), and the
			// digests its side gossiped meanwhile never came here.
			if known && old.apart && kind == events.MemberJoined && old.boot == boot.Boot && boot.Boot != 0 {
				healed = mem.Name
			}
			// Back from apart: the reads that failed meanwhile backed off
			// for up to two minutes; read it again soon, so that its
			// node is no longer shown unreachable once it answers.
			if known && old.apart && kind == events.MemberJoined {
				if p := m.peers[mem.Name]; p != nil && p.fails > 0 {
					p.fails, p.due = 0, time.Time{}
					p.changed("", len(m.known), now)
				}
			}
		}
		m.mu.Unlock()
		if confirmed != nil && m.accept(*confirmed) {
			m.stats.Accepted.Add(1)
		}
		oldHash := old.hash
		m.emit(&events.Event{Kind: kind, Time: now, Node: mem.Name,
			Detail: fmt.Sprintf("member %s %s (%s)", mem.Name, kind, mem.Addr)})
		if known && kind == events.MemberUpdated && hash != oldHash {
			m.emit(&events.Event{Kind: events.ConfigHash, Time: now, Node: mem.Name, From: oldHash, To: hash,
				Detail: fmt.Sprintf("member %s config hash %s -> %s", mem.Name, oldHash, hash)})
		}
	}
	// Nobody publishes because members joined: forming a mesh of N nodes
	// that way sent N² digests, and the backlog starved the changes that
	// followed. A joiner reads a peer's digests instead (join), a newcomer's
	// own digest is in the event buffer its join's push-pull hands over,
	// and a healed side reads the other side's digests from one of them.
	if healed != "" {
		m.wantFullSync(healed)
	}
}

func (m *Mesh) emit(ev *events.Event) {
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(ev)
	}
}

func (m *Mesh) userEvent(ev serf.UserEvent) {
	switch ev.Name {
	case digestEvent:
	case noticeEvent:
		m.userNotice(ev)
		return
	default:
		if kind, ok := strings.CutPrefix(ev.Name, appEventPrefix); ok {
			if f := m.cfg.OnApp; f != nil {
				f(kind, ev.Payload)
			}
			return
		}
		m.log.Debug("ignoring user event", "name", ev.Name)
		return
	}
	if m.cfg.noDigestEvents {
		return
	}
	d, err := decodeDigest(ev.Payload)
	if err != nil {
		if errors.Is(err, errNewerFormat) {
			m.stats.Newer.Add(1)
			m.log.Debug("ignoring digest", "error", err)
			return
		}
		// Any member can send these: one warning per warnInterval.
		m.stats.Malformed.Add(1)
		m.malformedWarn.note(func(n uint64) {
			m.log.Warn("malformed digests", "count", n, "last_error", err)
		})
		return
	}
	m.receive(d)
}

// receive counts and considers a digest another node sent (gossiped or
// pushed); this node's own are skipped.
func (m *Mesh) receive(d Digest) {
	if d.Node == m.cfg.NodeName {
		return
	}
	m.stats.Received.Add(1)
	if reason := m.consider(d); reason != "" {
		m.stats.drop(reason)
		return
	}
	m.stats.Accepted.Add(1)
}

// consider stores d, a member's digest that came by gossip or in a peer's
// anti-entropy answer, when it is the member's newest and its boot is the
// one the member's tags announce; it returns "" when d was stored, else
// why not (a drop reason).
func (m *Mesh) consider(d Digest) string {
	boot, member, satellite := m.memberBoot(d.Node, d.Boot)
	switch {
	case !member:
		// Stored, a digest for a name that is no member would stay until
		// a reap that never comes: only members' digests are kept, so the
		// digests are bounded by serf's member list (and a left or failed
		// member's digest goes when serf reaps it).
		return dropNotAMember
	case !satellite:
		return dropForeign
	case d.Boot < boot:
		// A previous life's digest, or one forged with an old boot.
		return dropOldBoot
	case d.Boot > boot:
		// Either the member restarted and its new tags have not arrived
		// yet, or the digest is forged (a huge boot would otherwise
		// silence the member for good): hold it until the member's tags
		// confirm that boot.
		m.mu.Lock()
		m.holdLocked(d)
		m.mu.Unlock()
		return dropUnconfirmed
	}
	if !m.accept(d) {
		return dropNotNewer
	}
	return ""
}

// maxPending bounds the digests held per member for boots its tags have
// not confirmed.
const maxPending = 4

// holdLocked holds d until the member's tags confirm its boot: the newest
// digest per boot, for the maxPending lowest boots (a real restart's boot
// is the time it started, so a forger's huge boots are the ones that go);
// m.mu must be held.
func (m *Mesh) holdLocked(d Digest) {
	held := m.pending[d.Node]
	for i, h := range held {
		if h.Boot == d.Boot {
			if d.Seq > h.Seq {
				held[i] = d
			}
			return
		}
	}
	held = append(held, d)
	sort.Slice(held, func(i, j int) bool { return held[i].Boot < held[j].Boot })
	if len(held) > maxPending {
		held = held[:maxPending]
	}
	m.pending[d.Node] = held
}

// confirmLocked forgets the held digests of name up to boot and returns
// the one of boot, if any; m.mu must be held.
func (m *Mesh) confirmLocked(name string, boot uint64) *Digest {
	var out *Digest
	var keep []Digest
	for _, h := range m.pending[name] {
		switch {
		case h.Boot == boot:
			out = &h
		case h.Boot > boot:
			keep = append(keep, h)
		}
	}
	if len(keep) == 0 {
		delete(m.pending, name)
	} else {
		m.pending[name] = keep
	}
	return out
}

// accept stores d if it is newer than the member's stored digest, plans a
// read of the member's full status when its state changed, and tells a
// status change as an event; it reports whether d was stored.
func (m *Mesh) accept(d Digest) bool {
	now := time.Now()
	m.mu.Lock()
	old, had := m.digests[d.Node]
	if had && !d.Newer(old.d) {
		m.mu.Unlock()
		return false
	}
	m.digests[d.Node] = received{d: d, at: now}
	key := d.contentKey()
	m.peer(d.Node).changed(key, len(m.known), now)
	m.mu.Unlock()
	if m.onDigest != nil {
		m.onDigest(d, now)
	}
	if !had || old.d.contentKey() != key {
		m.emit(&events.Event{Kind: events.Digest, Time: now, Node: d.Node, To: string(d.Status)})
	}
	if had && old.d.Status != d.Status {
		m.emit(&events.Event{Kind: events.NodeStatus, Time: now, Node: d.Node, From: string(old.d.Status), To: string(d.Status),
			Detail: fmt.Sprintf("node %s %s -> %s", d.Node, old.d.Status, d.Status)})
	}
	return true
}

// knownMember is what the member events told of a member.
type knownMember struct {
	hash string
	boot uint64 // 0 for a foreign member
	// apart is set while serf has the member failed or left.
	apart bool
	// since is when this boot of the member was first told.
	since time.Time
}

// memberBoot returns the boot ID in name's tags, whether name is in serf's
// member list (alive, failed, leaving or left; not reaped), and whether it
// is a satellite agent. The member events answer first; when they have not
// told the member yet, or told another boot (member events are coalesced,
// digests are not), serf's own list is read.
func (m *Mesh) memberBoot(name string, want uint64) (boot uint64, member, satellite bool) {
	m.mu.Lock()
	k, known := m.known[name]
	s := m.serf
	m.mu.Unlock()
	if known && k.boot == want {
		return k.boot, true, k.boot != 0
	}
	if s != nil {
		for _, mem := range s.Members() {
			if mem.Name == name {
				t, _ := ParseTags(mem.Tags)
				return t.Boot, true, IsSatellite(mem.Tags)
			}
		}
	}
	if known {
		return k.boot, true, k.boot != 0
	}
	return 0, false, false
}

// publisher sends a digest on Notify (at most one per Debounce) and every
// RefreshInterval.
func (m *Mesh) publisher(ctx context.Context) {
	// The refresh is jittered by ±10%; the first one comes at a uniformly
	// random point of the period, so that nodes started together (a fleet
	// rollout, a mass join) spread their refreshes over it instead of
	// sending them all within one fifth of it.
	//
	// Run notifies once at start, and every publish restarts the period;
	// so the first refresh comes at a fraction frac, drawn once, of the
	// period after the last publish, with the period as it is when the
	// timer fires (it grows as the mesh forms: 60 s alone, 1,000 s among
	// 1,000). Planning it once, at start, was undone by the start's
	// publish: a fleet started together refreshed in lockstep.
	jittered := func() time.Duration {
		p := m.refreshPeriod()
		return p*9/10 + rand.N(p/5+1)
	}
	frac := rand.Float64()
	first, last := true, time.Now()
	refresh := time.NewTimer(time.Duration(frac*float64(m.refreshPeriod())) + time.Millisecond)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.notify:
		case <-refresh.C:
			if first {
				if wait := time.Until(last.Add(time.Duration(frac * float64(m.refreshPeriod())))); wait > 0 {
					refresh.Reset(wait) // the mesh grew meanwhile
					continue
				}
			}
			first = false
		}
		last = time.Now()
		if first {
			refresh.Reset(time.Duration(frac*float64(m.refreshPeriod())) + time.Millisecond)
		} else {
			refresh.Reset(jittered())
		}
		if err := m.publish(); err != nil {
			m.log.Warn("publishing the digest", "error", err)
		}
		t := time.NewTimer(m.cfg.Debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (m *Mesh) publish() error {
	s := m.getSerf()
	ns := m.local()
	m.mu.Lock()
	m.seq++
	seq := m.seq
	m.mu.Unlock()
	d, names := digestOf(ns, m.boot, seq, time.Now())
	if m.cfg.Health != nil {
		d.SinkBacklog, d.SinkDropped = m.cfg.Health()
	}
	b, err := encodeDigest(d, names)
	if err != nil {
		return err
	}
	// Alone (at start, before the join, or with every other member
	// failed), a gossiped digest reaches nobody now: it waits in serf's
	// queue and goes out once members come. At a mass join that made every
	// node's boot digest go out at once, and every node re-gossip all N of
	// them: at 1,000 nodes a backlog of 1,100 user events per node that
	// outlasted the join's membership messages by more than 20 minutes
	// (dilated ×16) and starved the changes behind it. Nobody misses it:
	// the join pushes it to every member (fan-out), a member that did not
	// know this node yet reads it by anti-entropy (it lacks the digest),
	// and a heal reads this node's whole set.
	if s.Memberlist().NumMembers() > 1 {
		if err := s.UserEvent(digestEvent, b, false); err != nil {
			return fmt.Errorf("serf user event: %w", err)
		}
	}
	// What anti-entropy answers hand out as this node's digest: the one
	// just gossiped, check names clipped as they were.
	own, err := decodeDigest(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.own = &own
	m.mu.Unlock()
	if m.fanoutDue(own) {
		m.wantFanout()
	}
	return nil
}

// join tries the join addresses at start and, until one of them answers,
// again with a backoff from one second up to RetryInterval: nodes started
// in any order (as config management does) all end in one mesh, without
// retry_join. Once joined, serf itself keeps the membership (and
// retry_join, when set, heals partitions longer than ReconnectTimeout).
// Old events are replayed, not ignored: they are the recent digests, and
// ordering by (boot, seq) makes replays harmless.
func (m *Mesh) join(ctx context.Context) {
	if len(m.cfg.Join) == 0 {
		return
	}
	back := time.Second
	for attempt := 1; ; attempt++ {
		n, err := m.getSerf().Join(m.cfg.Join, false)
		if err == nil && n > 0 {
			m.log.Info("joined the mesh", "contacted", n, "attempts", attempt)
			m.wantFullSync("")
			// Its boot digest went to nobody before: push it to all.
			m.wantFanout()
			return
		}
		if attempt == 1 {
			m.log.Warn("joining the mesh at start failed; trying again until a join address answers", "join", m.cfg.Join, "error", err)
		} else {
			m.log.Debug("join", "attempt", attempt, "error", err)
		}
		t := time.NewTimer(back/2 + rand.N(back/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		back = min(back*2, m.cfg.RetryInterval)
	}
}

// retryJoin tries the retry_join addresses every RetryInterval, forever,
// while any of them is not an alive member. Serf itself stops trying a
// failed member once it is reaped; this loop is what heals a partition
// longer than ReconnectTimeout.
func (m *Mesh) retryJoin(ctx context.Context) {
	if len(m.cfg.RetryJoin) == 0 {
		return
	}
	t := time.NewTicker(m.cfg.RetryInterval)
	defer t.Stop()
	for {
		if missing := m.notAlive(m.cfg.RetryJoin); len(missing) > 0 {
			n, err := m.getSerf().Join(missing, false)
			if err != nil {
				m.log.Debug("retry_join", "tried", missing, "joined", n, "error", err)
			} else {
				m.log.Info("retry_join joined", "tried", missing, "contacted", n)
				m.Notify()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// notAlive returns the addresses that are not an alive member's gossip
// address. A host name never matches, so it is always tried: a join to a
// member is only a push-pull.
func (m *Mesh) notAlive(addrs []string) []string {
	alive := map[string]bool{}
	for _, mem := range m.getSerf().Members() {
		if mem.Status == serf.StatusAlive && mem.Name != m.cfg.NodeName {
			alive[net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port)))] = true
		}
	}
	var out []string
	for _, a := range addrs {
		if !alive[a] {
			out = append(out, a)
		}
	}
	return out
}

// SetConfigHash announces a new config hash (after a reload) in this
// node's tags and publishes a digest.
func (m *Mesh) SetConfigHash(hash string) error {
	m.mu.Lock()
	m.cfg.ConfigHash = hash
	s := m.serf
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	tags := s.LocalMember().Tags
	next := make(map[string]string, len(tags))
	for k, v := range tags {
		next[k] = v
	}
	next[tagHash] = hash
	if err := s.SetTags(next); err != nil {
		return fmt.Errorf("mesh: updating tags: %w", err)
	}
	m.Notify()
	return nil
}

// maxRefreshRate caps the refresh digests of the whole mesh per second.
// Every digest costs each node about 4·log10(N+1) retransmissions, so with
// a fixed period the load per node would grow as N·log N; with the cap it
// grows as log N, and the refresh period (and the time to call a silent
// node stale) grows with N instead: 60 s up to 60 nodes, 200 s at 200,
// 1,000 s at 1,000. At 2 per second the refreshes alone cost each node of
// 1,000 about 9.6 KB/s; at 1 about 4.8 KB/s, under the 10 KB/s budget with
// room for the changes. The staleness it bounds is the last line of
// defence (failure detection and the watchers come first).
var maxRefreshRate = 1.0

// refreshPeriod is RefreshInterval, stretched for large meshes.
func (m *Mesh) refreshPeriod() time.Duration {
	p := m.cfg.RefreshInterval
	if s := m.getSerf(); s != nil {
		if byRate := time.Duration(float64(s.NumNodes()) / maxRefreshRate * float64(time.Second)); byRate > p {
			p = byRate
		}
	}
	return p
}
