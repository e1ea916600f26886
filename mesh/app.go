package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"
)

// App events and app state let other parts of the agent share small state
// over the mesh without a mesh of their own: the notification log and the
// silences (notify). An app event is a serf user event named
// "satellite:app:KIND", gossiped to every member (Config.OnApp); the app's
// whole state is served to other members on the peer endpoint, at
// /v1/peer/app/KIND (Config.AppState), for a node that missed events while
// it was down or apart: serf replays only its recent events, and digests
// fill that buffer quickly. Both are trusted as the gossip is: any holder
// of the gossip key can send them, and the receiver must check what it is
// handed.
const (
	appEventPrefix = "satellite:app:"
	// AppPathPrefix is the peer resource of an app's state.
	AppPathPrefix = "/v1/peer/app/"
	// maxAppState bounds an app state read from a peer.
	maxAppState = 4 << 20
)

// MaxAppPayload is the largest payload PublishApp takes for a kind:
// serf's 512-byte user-event limit, less the event's name and the encoding
// (as maxDigestPayload).
func MaxAppPayload(kind string) int { return 512 - 40 - len(appEventPrefix) - len(kind) }

// PublishApp gossips one app event to every member, this node included.
func (m *Mesh) PublishApp(kind string, payload []byte) error {
	if max := MaxAppPayload(kind); len(payload) > max {
		return fmt.Errorf("mesh: an app event of %d bytes is over the %d-byte limit", len(payload), max)
	}
	s := m.getSerf()
	if s == nil {
		return errors.New("mesh: not running")
	}
	return s.UserEvent(appEventPrefix+kind, payload, false)
}

func (m *Mesh) serveApp(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	if !m.admitPeer(w, r, time.Now()) {
		return
	}
	kind := strings.TrimPrefix(r.URL.Path, AppPathPrefix)
	var state []byte
	ok := false
	if m.cfg.AppState != nil && kind != "" && !strings.Contains(kind, "/") {
		state, ok = m.cfg.AppState(kind)
	}
	if !ok {
		http.Error(w, "no such app state", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(state)
}

// ReadApp reads an app's state from one other alive satellite member, the
// first of up to three tried in random order that answers.
func (m *Mesh) ReadApp(ctx context.Context, kind string) ([]byte, error) {
	s := m.getSerf()
	if s == nil {
		return nil, errors.New("mesh: not running")
	}
	var targets []watchTarget
	for _, mem := range s.Members() {
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort == 0 {
			continue
		}
		targets = append(targets, watchTarget{mem.Name, mem.Addr.String(), tags.PeerPort, tags.Boot})
	}
	if len(targets) == 0 {
		return nil, errors.New("mesh: no other member to read from")
	}
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	var errs []error
	for _, tg := range targets[:min(3, len(targets))] {
		rctx, cancel := context.WithTimeout(ctx, m.cfg.PeerTimeout)
		resp, _, err := m.peerGet(rctx, tg.name, tg.host, tg.port, AppPathPrefix+kind)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(resp.Body, maxAppState+1))
			resp.Body.Close()
			if err == nil && len(b) > maxAppState {
				err = fmt.Errorf("over %d bytes", maxAppState)
			}
			if err == nil {
				cancel()
				return b, nil
			}
		}
		cancel()
		errs = append(errs, fmt.Errorf("%s: %w", tg.name, err))
	}
	return nil, errors.Join(errs...)
}
