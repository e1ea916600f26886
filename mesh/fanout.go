package mesh

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/hashicorp/serf/serf"
)

// Fan-out carries a changed digest, and a watcher's new unreachability
// notice, to every member at once, outside the gossip packets. Serf user events share memberlist's UDP packets with the
// membership messages, and memberlist fills each packet with its own
// first: after a mass join, or while 5% of 1,000 nodes restart, the queue
// of membership messages (about 12 sends of each by every node) takes
// every byte for minutes, and no digest goes at all (measured: a change
// reached 0 of 999 nodes in 10 s). So when its state changes (not on a
// refresh) a node also POSTs its new digest to every alive satellite
// member's peer endpoint, fanoutWorkers at a time, members the mesh holds
// unreachable last. Each receiver checks it as a gossiped digest (member,
// boot confirmed by tags, newer), so a push can carry only what gossip
// could. The cost is one small request per member per change, on the node
// that changed; a receiver gets one per change of any node, instead of the
// 4·log₁₀(N+1) copies gossip brings. Gossip still carries every digest as
// well, for members the push missed and for agents without the resource.
const (
	fanoutWorkers = 16
	// maxPushBody bounds a pushed digest set (a few digests).
	maxPushBody = 4 * 2 * maxDigestPayload
	// maxPushDigests is how many digests one push may hold.
	maxPushDigests = 4
)

// wantFanout asks the fan-out loop to send this node's newest digest.
func (m *Mesh) wantFanout() {
	m.mu.Lock()
	m.fanDigest = true
	m.mu.Unlock()
	m.kickFanout()
}

func (m *Mesh) kickFanout() {
	select {
	case m.fanoutCh <- struct{}{}:
	default:
	}
}

// fanout sends what is due (this node's newest digest, its watcher's new
// notices) to every member on wantFanout, until ctx is done. What becomes
// due while a round runs goes in the next round.
func (m *Mesh) fanout(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.fanoutCh:
		}
		body := m.fanoutBody()
		if body == nil {
			continue
		}
		targets := m.fanoutTargets()
		work := make(chan watchTarget)
		var wg sync.WaitGroup
		for range min(fanoutWorkers, len(targets)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tg := range work {
					m.push(ctx, tg, body)
				}
			}()
		}
	send:
		for _, tg := range targets {
			select {
			case work <- tg:
			case <-ctx.Done():
				break send
			}
		}
		close(work)
		wg.Wait()
	}
}

// fanoutTargets are the alive satellite members with a peer endpoint, in
// random order, those held unreachable last.
func (m *Mesh) fanoutTargets() []watchTarget {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	var up, down []watchTarget
	mems := s.Members()
	m.mu.Lock()
	for _, mem := range mems {
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort == 0 {
			continue
		}
		tg := watchTarget{mem.Name, mem.Addr.String(), tags.PeerPort, tags.Boot}
		if m.reportedDownLocked(mem.Name, tags.Boot) {
			down = append(down, tg)
		} else {
			up = append(up, tg)
		}
	}
	m.mu.Unlock()
	rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	return append(up, down...)
}

// fanoutBody takes what is due and encodes it as a push; nil when
// nothing is.
func (m *Mesh) fanoutBody() []byte {
	set := digestSet{Format: digestFormat, Digests: []json.RawMessage{}}
	m.mu.Lock()
	if m.fanDigest && m.own != nil {
		if raw, err := json.Marshal(*m.own); err == nil {
			set.Digests = append(set.Digests, raw)
		}
	}
	m.fanDigest = false
	for name, e := range m.fanNotices {
		if len(set.Notices) < maxPushDigests {
			set.Notices = append(set.Notices, e)
			delete(m.fanNotices, name)
		}
	}
	if len(m.fanNotices) > 0 {
		m.kickFanout() // the rest in the next round
	}
	m.mu.Unlock()
	if len(set.Digests) == 0 && len(set.Notices) == 0 {
		return nil
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil
	}
	return body
}

// push POSTs body to tg.
func (m *Mesh) push(ctx context.Context, tg watchTarget, body []byte) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.PeerTimeout)
	defer cancel()
	resp, _, err := m.peerDo(ctx, http.MethodPost, tg.name, tg.host, tg.port, DigestsPath, body)
	if err != nil {
		m.stats.PushErrors.Add(1)
		m.log.Debug("pushing the digest", "member", tg.name, "error", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	m.stats.Pushed.Add(1)
}

// takePush handles a POST of digests and notices: each is considered as
// a gossiped one; the answer is 204 whatever was stored (a pusher has nothing to do
// about a digest refused).
func (m *Mesh) takePush(w http.ResponseWriter, r *http.Request) {
	var set digestSet
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, int64(maxPushBody)))
	switch err := dec.Decode(&set); {
	case err != nil:
		m.stats.Malformed.Add(1)
		http.Error(w, "malformed digest set: "+err.Error(), http.StatusBadRequest)
		return
	case set.Format > digestFormat:
		m.stats.Newer.Add(1)
		http.Error(w, errNewerFormat.Error(), http.StatusUnprocessableEntity)
		return
	case len(set.Digests) > maxPushDigests || len(set.Notices) > maxPushDigests:
		http.Error(w, "too many digests or notices in one push", http.StatusRequestEntityTooLarge)
		return
	}
	for _, n := range set.Notices {
		if n.Node != "" {
			m.considerNotice(n.noticeMsg, serf.LamportTime(n.LTime))
		}
	}
	for _, raw := range set.Digests {
		d, err := decodeDigest(append([]byte{byte(set.Format)}, raw...))
		if err != nil {
			m.stats.Malformed.Add(1)
			continue
		}
		m.receive(d)
	}
	w.WriteHeader(http.StatusNoContent)
}

// fanoutDue reports whether own says something the last digest fanned out
// did not (a refresh says nothing new), and notes it as sent.
func (m *Mesh) fanoutDue(own Digest) bool {
	key := own.contentKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	if own.Boot == m.fannedBoot && key == m.fannedKey {
		return false
	}
	m.fannedBoot, m.fannedKey = own.Boot, key
	return true
}
