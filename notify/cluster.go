package notify

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Cluster alerts are the alerts about nodes, not checks: a member failed
// (left without a clean leave), or its peer endpoint does not answer, or its
// digests went stale; members running two config hashes for longer than the
// rollout timeout; and, on a side of a partition without a majority, that
// it is partitioned. Every member sees the same membership, so every member
// could send them: the Cluster decides that exactly one does.
//
//   - The owner of an alert is chosen by rendezvous hashing of its key over
//     the members able to send (alive, their data fresh, this node
//     included): every member computes the same owner from the same view.
//   - A condition must hold for Settle before the owner acts, so that the
//     members' views have converged; the member ranked next acts only if,
//     Backup later, the notification log still does not show it done (the
//     owner is gone, or sees it otherwise), and so on for three ranks.
//   - Only a side that holds a majority of the members it last saw alive
//     (alive and failed, not those that left) tells of nodes. A side
//     without one sends a single "partitioned" alert, from its own owner,
//     and nothing about the other side's nodes.
//   - Every alert sent goes into the notification log before it is sent:
//     each entry (key, state, time, sender) is gossiped to every member (a
//     serf user event within the 512-byte limit) and kept on disk. A new
//     owner after a failure reads the log: it neither sends an open alert
//     again nor forgets to resolve it. serf's push-pull replays recent
//     events after a partition heals, so both sides' logs merge.

// ClusterMember is a member as cluster alerts see it (mesh.AlertMember).
type ClusterMember struct {
	Name string
	// Status is serf's: alive, leaving, left, failed.
	Status string
	// Stale is why this node's data about it is stale, "" when fresh.
	Stale      string
	ConfigHash string
}

// ClusterOptions configure a Cluster.
type ClusterOptions struct {
	// Node is this node's name.
	Node string
	// Members returns the members as this node sees them now, itself
	// included.
	Members func() []ClusterMember
	// Publish gossips one log entry to every member (mesh.PublishNotifyLog).
	Publish func([]byte) error
	// Fetch reads another member's log (its State), for what this node
	// missed while down or apart: at start and every FetchInterval. nil
	// reads nothing.
	Fetch func(ctx context.Context) ([]byte, error)
	// Send hands a decided alert to the cluster notifiers
	// (Dispatcher.SendCluster).
	Send func(Alert)
	// DataDir keeps the log (DataDir/notify/cluster-log.json); "" keeps it
	// in memory.
	DataDir string
	// RolloutTimeout is how long two config hashes may run at once.
	RolloutTimeout time.Duration
	// Interval is how often the view is judged (default 2s); Settle how
	// long a condition must hold before the owner acts (default 10s);
	// Backup how much later each next-ranked member acts (default 10s);
	// StartGrace how long after its start a node only watches (default
	// 30s: its first digests and the log's gossip arrive meanwhile).
	Interval, Settle, Backup, StartGrace time.Duration
	Logger                               hclog.Logger
}

// Defaults of ClusterOptions.
const (
	DefaultClusterInterval = 2 * time.Second
	DefaultClusterSettle   = 10 * time.Second
	DefaultClusterBackup   = 10 * time.Second
	// DefaultClusterStartGrace is ClusterOptions.StartGrace's default.
	DefaultClusterStartGrace = 30 * time.Second
	// clusterRanks is how many members, in rendezvous order, may act.
	clusterRanks = 3
)

// LogEntry is one entry of the notification log.
type LogEntry struct {
	// Key is the alert's key: cluster/member/NAME, cluster/config,
	// cluster/partition.
	Key   string `json:"k"`
	State string `json:"s"`
	// Severity of a problem.
	Severity string `json:"v,omitempty"`
	// Time orders entries of a key (Unix milliseconds); By breaks ties.
	Time int64  `json:"t"`
	By   string `json:"b"`
}

func (e LogEntry) newer(o LogEntry) bool {
	if e.Time != o.Time {
		return e.Time > o.Time
	}
	return e.By > o.By
}

// Cluster decides and sends the cluster alerts of this node; Run owns its
// goroutine.
type Cluster struct {
	opts ClusterOptions
	log  hclog.Logger

	mu      sync.Mutex
	entries map[string]LogEntry
	dirty   bool
	// since is when each wanted condition (key) was first seen, and gone
	// when each open one was first seen cleared.
	since, gone map[string]time.Time
	// hashesSince is when members were first seen on two config hashes.
	hashesSince time.Time
	// started is the first Judge's time.
	started time.Time
	// lastAlive is how many members were alive at the last Judge; more
	// now (a heal, a join) makes Run read a member's log at once.
	lastAlive int
	grew      chan struct{}
}

// NewCluster loads the log from the data dir.
func NewCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultClusterInterval
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultClusterSettle
	}
	if opts.Backup <= 0 {
		opts.Backup = DefaultClusterBackup
	}
	if opts.StartGrace <= 0 {
		opts.StartGrace = DefaultClusterStartGrace
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	c := &Cluster{opts: opts, log: opts.Logger, entries: map[string]LogEntry{}, grew: make(chan struct{}, 1),
		since: map[string]time.Time{}, gone: map[string]time.Time{}}
	if p := c.path(); p != "" {
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			var doc clusterLogDoc
			if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 {
				c.log.Error("notification log unreadable: starting from what the members gossip", "path", p, "error", err)
			}
			for _, e := range doc.Entries {
				c.entries[e.Key] = e
			}
		}
	}
	return c, nil
}

type clusterLogDoc struct {
	Version int        `json:"version"`
	Entries []LogEntry `json:"entries"`
}

func (c *Cluster) path() string {
	if c.opts.DataDir == "" {
		return ""
	}
	return filepath.Join(c.opts.DataDir, "notify", "cluster-log.json")
}

// Receive takes a log entry another member gossiped (mesh's
// OnNotifyLog); a malformed one is ignored. It never blocks for long.
func (c *Cluster) Receive(payload []byte) {
	var e LogEntry
	if err := json.Unmarshal(payload, &e); err != nil || !strings.HasPrefix(e.Key, clusterKeyPrefix) || len(e.Key) > 256 ||
		(e.State != StateProblem && e.State != StateResolved) || e.By == "" {
		c.log.Debug("ignoring a malformed notification-log entry")
		return
	}
	c.mu.Lock()
	if old, ok := c.entries[e.Key]; !ok || e.newer(old) {
		c.entries[e.Key] = e
		c.dirty = true
	}
	c.mu.Unlock()
}

// State is the whole log as JSON, for a member that missed its gossip;
// Merge takes it.
func (c *Cluster) State() []byte {
	c.mu.Lock()
	doc := clusterLogDoc{Version: 1}
	for _, e := range c.entries {
		doc.Entries = append(doc.Entries, e)
	}
	c.mu.Unlock()
	b, _ := json.Marshal(doc)
	return b
}

// Merge takes another member's State; malformed entries are ignored.
func (c *Cluster) Merge(state []byte) error {
	var doc clusterLogDoc
	if err := json.Unmarshal(state, &doc); err != nil {
		return err
	}
	if len(doc.Entries) > maxLogEntries {
		return fmt.Errorf("a notification log of %d entries is over the %d limit", len(doc.Entries), maxLogEntries)
	}
	for _, e := range doc.Entries {
		if b, err := json.Marshal(e); err == nil {
			c.Receive(b)
		}
	}
	return nil
}

// maxLogEntries bounds a log read from a member.
const maxLogEntries = 100000

// Entries returns the log, by key (for tests and the status of alerts).
func (c *Cluster) Entries() map[string]LogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]LogEntry, len(c.entries))
	for k, e := range c.entries {
		out[k] = e
	}
	return out
}

// FetchInterval is how often a member reads another's whole log: what
// gossip lost is repaired within it.
const FetchInterval = 5 * time.Minute

// Run judges the view every Interval until ctx is done, and reads
// another member's log soon after the start and every FetchInterval.
func (c *Cluster) Run(ctx context.Context) {
	tk := time.NewTicker(c.opts.Interval)
	defer tk.Stop()
	fetch := time.NewTimer(min(5*time.Second, c.opts.StartGrace/2))
	defer fetch.Stop()
	for {
		select {
		case <-ctx.Done():
			c.save()
			return
		case <-c.grew:
			// A heal or a join: what the other side logged meanwhile comes
			// now, not at the next FetchInterval.
			fetch.Reset(time.Second)
		case <-fetch.C:
			fetch.Reset(FetchInterval)
			if c.opts.Fetch == nil {
				continue
			}
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			state, err := c.opts.Fetch(fctx)
			cancel()
			if err == nil {
				err = c.Merge(state)
			}
			if err != nil {
				c.log.Debug("reading a member's notification log", "error", err)
			}
		case now := <-tk.C:
			c.Judge(now)
			c.save()
		}
	}
}

// clusterKeyPrefix starts every cluster alert's key.
const clusterKeyPrefix = "cluster/"

// condition is a cluster alert wanted now.
type condition struct {
	severity, node, check, text string
}

// Judge looks at the view once, at now, and acts on what this node owns.
func (c *Cluster) Judge(now time.Time) {
	ms := c.opts.Members()
	var able []string // may send: alive, fresh, this node included
	alive, seen := 0, 0
	hashes := map[string]int{}
	for _, m := range ms {
		switch m.Status {
		case "alive":
			alive++
			seen++
			if m.Stale == "" || m.Name == c.opts.Node {
				able = append(able, m.Name)
			}
			if m.ConfigHash != "" {
				hashes[m.ConfigHash]++
			}
		case "failed":
			seen++
		}
	}
	want := map[string]condition{}
	majority := 2*alive > seen
	if majority {
		for _, m := range ms {
			if m.Name == c.opts.Node {
				continue
			}
			key := clusterKeyPrefix + "member/" + m.Name
			switch {
			case m.Status == "failed":
				want[key] = condition{SeverityCritical, m.Name, "mesh.member", fmt.Sprintf("%s failed: it left the mesh without a clean leave", m.Name)}
			case m.Status == "alive" && m.Stale == "unreachable":
				want[key] = condition{SeverityCritical, m.Name, "mesh.member", fmt.Sprintf("%s is unreachable: serf sees it alive, its agent does not answer", m.Name)}
			case m.Status == "alive" && m.Stale != "":
				want[key] = condition{SeverityCritical, m.Name, "mesh.member", fmt.Sprintf("%s: its digests are stale (%s)", m.Name, m.Stale)}
			}
		}
	}
	var acts []action
	defer func() {
		for _, a := range acts {
			c.do(a)
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started.IsZero() {
		c.started = now
	}
	if alive > c.lastAlive && c.lastAlive > 0 {
		select {
		case c.grew <- struct{}{}:
		default:
		}
	}
	c.lastAlive = alive
	watching := now.Sub(c.started) < c.opts.StartGrace
	if majority && len(hashes) > 1 {
		if c.hashesSince.IsZero() {
			c.hashesSince = now
		}
		if c.opts.RolloutTimeout > 0 && now.Sub(c.hashesSince) >= c.opts.RolloutTimeout {
			want[clusterKeyPrefix+"config"] = condition{SeverityWarning, c.opts.Node, "mesh.config",
				fmt.Sprintf("members have run %d config hashes for more than %s: a rollout stuck", len(hashes), c.opts.RolloutTimeout)}
		}
	} else if majority {
		c.hashesSince = time.Time{}
	}
	if !majority {
		want[clusterKeyPrefix+"partition"] = condition{SeverityCritical, c.opts.Node, "mesh.partition",
			fmt.Sprintf("partitioned: this side sees %d of %d members", alive, seen)}
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
		delete(c.gone, k)
		if _, ok := c.since[k]; !ok {
			c.since[k] = now
		}
	}
	for k, e := range c.entries {
		if e.State == StateProblem {
			keys[k] = true
		}
	}
	for k := range c.since {
		if _, ok := want[k]; !ok {
			delete(c.since, k)
		}
	}
	for k := range keys {
		e, logged := c.entries[k]
		open := logged && e.State == StateProblem
		cond, wanted := want[k]
		rank := rankOf(k, c.opts.Node, able)
		if watching || rank < 0 || rank >= clusterRanks {
			continue
		}
		wait := c.opts.Settle + time.Duration(rank)*c.opts.Backup
		switch {
		case wanted && (!open || e.Severity != cond.severity):
			if now.Sub(c.since[k]) < wait {
				continue
			}
			acts = c.act(acts, LogEntry{Key: k, State: StateProblem, Severity: cond.severity, Time: now.UnixMilli(), By: c.opts.Node},
				Alert{Key: k, State: StateProblem, Severity: cond.severity, Node: cond.node, Check: cond.check, Type: "mesh",
					Status: string(cond.severity), Error: cond.text, Since: c.since[k].UTC(), Cluster: true})
		case !wanted && open:
			// Nothing about the other side's nodes from a minority side.
			if !majority && k != clusterKeyPrefix+"partition" {
				continue
			}
			if _, ok := c.gone[k]; !ok {
				c.gone[k] = now
			}
			if now.Sub(c.gone[k]) < wait {
				continue
			}
			node, check := c.opts.Node, "mesh.partition"
			if name, ok := strings.CutPrefix(k, clusterKeyPrefix+"member/"); ok {
				node, check = name, "mesh.member"
			} else if k == clusterKeyPrefix+"config" {
				check = "mesh.config"
			}
			acts = c.act(acts, LogEntry{Key: k, State: StateResolved, Severity: e.Severity, Time: now.UnixMilli(), By: c.opts.Node},
				Alert{Key: k, State: StateResolved, Severity: e.Severity, Node: node, Check: check, Type: "mesh",
					Status: "passing", Since: now.UTC(), Cluster: true})
			delete(c.gone, k)
		case !wanted:
			delete(c.gone, k)
		}
	}
}

// action is a decided alert: its log entry, gossiped, then the alert sent.
type action struct {
	e LogEntry
	a Alert
}

// act logs the entry (c.mu held) and adds the action, done once c.mu is
// released: gossip comes back to Receive.
func (c *Cluster) act(acts []action, e LogEntry, a Alert) []action {
	c.entries[e.Key] = e
	c.dirty = true
	return append(acts, action{e, a})
}

func (c *Cluster) do(x action) {
	if b, err := json.Marshal(x.e); err == nil && c.opts.Publish != nil {
		if err := c.opts.Publish(b); err != nil {
			c.log.Warn("gossiping the notification log", "key", x.e.Key, "error", err)
		}
	}
	c.log.Info("cluster alert", "key", x.a.Key, "state", x.a.State, "node", x.a.Node)
	c.opts.Send(x.a)
}

// save writes the log when it changed (write, fsync, rename).
func (c *Cluster) save() {
	p := c.path()
	c.mu.Lock()
	if p == "" || !c.dirty {
		c.mu.Unlock()
		return
	}
	doc := clusterLogDoc{Version: 1}
	for _, e := range c.entries {
		doc.Entries = append(doc.Entries, e)
	}
	c.dirty = false
	c.mu.Unlock()
	sort.Slice(doc.Entries, func(i, j int) bool { return doc.Entries[i].Key < doc.Entries[j].Key })
	if err := writeFileSync(p, doc); err != nil {
		c.log.Error("saving the notification log", "path", p, "error", err)
	}
}

// writeFileSync writes v as JSON to path: a temp file, fsync, rename.
func writeFileSync(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rankOf is node's place among members in key's rendezvous order (0 is
// the owner), -1 when it is not among them.
func rankOf(key, node string, members []string) int {
	type scored struct {
		name  string
		score uint64
	}
	var s []scored
	in := false
	for _, m := range members {
		s = append(s, scored{m, rendezvous(key, m)})
		in = in || m == node
	}
	if !in {
		return -1
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score > s[j].score
		}
		return s[i].name < s[j].name
	})
	for i, x := range s {
		if x.name == node {
			return i
		}
	}
	return -1
}

// rendezvous is member's score for key: FNV-1a, then a 64-bit finalizer
// (splitmix64) so that similar names spread.
func rendezvous(key, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(member))
	x := binary.BigEndian.Uint64(h.Sum(nil))
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
