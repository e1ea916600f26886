package mesh

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
)

// ClockPath is the peer endpoint's clock resource (the clock check).
const ClockPath = "/v1/peer/clock"

// serveClock answers a clock request. (Not yet used by Clocks.)
func (m *Mesh) serveClock(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// clockQuery is the serf query that clock checks send.
const clockQuery = "satellite:clock"

func (m *Mesh) query(q *serf.Query) {
	switch q.Name {
	case clockQuery:
		b := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
		if err := q.Respond(b); err != nil {
			m.log.Debug("answering a clock query", "from", q.SourceNode(), "error", err)
		}
	default:
		m.log.Debug("ignoring query", "name", q.Name)
	}
}

// Clocks asks every alive peer for its clock over a serf query and returns
// each offset, corrected by half the round trip (checks.MeshView). The
// query lasts until ctx is done or serf's default query timeout.
func (m *Mesh) Clocks(ctx context.Context) ([]checks.ClockSample, error) {
	s := m.getSerf()
	if s == nil {
		return nil, fmt.Errorf("mesh is not running")
	}
	params := s.DefaultQueryParams()
	if dl, ok := ctx.Deadline(); ok {
		// End a little before the run's deadline, so that the answers
		// that came are judged instead of the run timing out.
		left := time.Until(dl)
		params.Timeout = min(params.Timeout, left-min(left/10, 100*time.Millisecond))
	}
	if params.Timeout <= 0 {
		return nil, ctx.Err()
	}
	// The query ends as soon as every peer alive now has answered, not
	// at serf's query timeout.
	expect := 0
	for _, mem := range s.Members() {
		if mem.Status == serf.StatusAlive && mem.Name != m.cfg.NodeName {
			expect++
		}
	}
	sent := time.Now()
	resp, err := s.Query(clockQuery, nil, params)
	if err != nil {
		return nil, fmt.Errorf("clock query: %w", err)
	}
	defer resp.Close()
	var out []checks.ClockSample
	for {
		select {
		case <-ctx.Done():
			return out, nil
		case r, ok := <-resp.ResponseCh():
			if !ok {
				sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
				return out, nil
			}
			if r.From == m.cfg.NodeName {
				continue
			}
			recv := time.Now()
			ns, err := strconv.ParseInt(string(r.Payload), 10, 64)
			if err != nil {
				m.log.Debug("bad clock answer", "from", r.From)
				continue
			}
			rtt := recv.Sub(sent)
			mid := sent.Add(rtt / 2)
			out = append(out, checks.ClockSample{Peer: r.From, Offset: time.Unix(0, ns).Sub(mid), RTT: rtt})
			if len(out) >= expect {
				sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
				return out, nil
			}
		}
	}
}
