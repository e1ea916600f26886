package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/mesh"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/sinks"
)

// sinkCollector exports the sink writers' counters on /metrics.
type sinkCollector struct{ a *Agent }

var (
	sinkQueued       = prometheus.NewDesc("satellite_sink_queue_depth", "Records waiting to be delivered to the sink.", []string{"sink"}, nil)
	sinkSpoolBytes   = prometheus.NewDesc("satellite_sink_spool_bytes", "Size of the sink's on-disk spool.", []string{"sink"}, nil)
	sinkDelivered    = prometheus.NewDesc("satellite_sink_delivered_total", "Records the sink has stored.", []string{"sink"}, nil)
	sinkDropped      = prometheus.NewDesc("satellite_sink_dropped_total", "Records lost: the oldest dropped at the spool's bound, or refused by a full queue.", []string{"sink"}, nil)
	sinkDeadLettered = prometheus.NewDesc("satellite_sink_dead_lettered_total", "Records the sink rejected as bad, moved to its dead-letter file.", []string{"sink"}, nil)
	sinkRetries      = prometheus.NewDesc("satellite_sink_retries_total", "Writes that repeated a failed batch.", []string{"sink"}, nil)
	sinkFailures     = prometheus.NewDesc("satellite_sink_failures_total", "Writes that failed.", []string{"sink"}, nil)
)

func (c *sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sinkQueued, sinkSpoolBytes, sinkDelivered, sinkDropped, sinkDeadLettered, sinkRetries, sinkFailures} {
		ch <- d
	}
}

func (c *sinkCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	type named struct {
		name string
		w    *sinks.Writer
	}
	var ws []named
	a.mu.RLock()
	if a.histW != nil {
		ws = append(ws, named{"history", a.histW})
	}
	for addr, sw := range a.sinks {
		ws = append(ws, named{addr, sw.writer})
	}
	a.mu.RUnlock()
	for _, w := range ws {
		s := w.w.Stats()
		ch <- prometheus.MustNewConstMetric(sinkQueued, prometheus.GaugeValue, float64(s.Queued), w.name)
		ch <- prometheus.MustNewConstMetric(sinkSpoolBytes, prometheus.GaugeValue, float64(s.SpoolBytes), w.name)
		ch <- prometheus.MustNewConstMetric(sinkDelivered, prometheus.CounterValue, float64(s.Delivered), w.name)
		ch <- prometheus.MustNewConstMetric(sinkDropped, prometheus.CounterValue, float64(s.Dropped), w.name)
		ch <- prometheus.MustNewConstMetric(sinkDeadLettered, prometheus.CounterValue, float64(s.DeadLettered), w.name)
		ch <- prometheus.MustNewConstMetric(sinkRetries, prometheus.CounterValue, float64(s.Retries), w.name)
		ch <- prometheus.MustNewConstMetric(sinkFailures, prometheus.CounterValue, float64(s.Failures), w.name)
	}
}

// busCollector exports the events bus's counters on /metrics.
type busCollector struct{ bus *events.Bus }

var (
	busPublished = prometheus.NewDesc("satellite_events_published_total", "Events published on the agent's events bus (check runs and cluster events).", nil, nil)
	busQueued    = prometheus.NewDesc("satellite_events_queue_depth", "Events waiting in the subscriber's queue.", []string{"subscriber"}, nil)
	busDelivered = prometheus.NewDesc("satellite_events_delivered_total", "Events the subscriber has handled.", []string{"subscriber"}, nil)
	busDropped   = prometheus.NewDesc("satellite_events_dropped_total", "Events the subscriber lost because its queue was full.", []string{"subscriber"}, nil)
)

func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{busPublished, busQueued, busDelivered, busDropped} {
		ch <- d
	}
}

func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	published, subs := c.bus.Stats()
	ch <- prometheus.MustNewConstMetric(busPublished, prometheus.CounterValue, float64(published))
	// Subscribers of one name (the API's event streams, one per client)
	// are one series: summed, in the order the first subscribed.
	var order []string
	sums := map[string]*events.SubscriberStats{}
	for _, s := range subs {
		sum, ok := sums[s.Name]
		if !ok {
			sum = &events.SubscriberStats{Name: s.Name}
			sums[s.Name] = sum
			order = append(order, s.Name)
		}
		sum.Queued += s.Queued
		sum.Delivered += s.Delivered
		sum.Dropped += s.Dropped
	}
	for _, name := range order {
		s := sums[name]
		ch <- prometheus.MustNewConstMetric(busQueued, prometheus.GaugeValue, float64(s.Queued), s.Name)
		ch <- prometheus.MustNewConstMetric(busDelivered, prometheus.CounterValue, float64(s.Delivered), s.Name)
		ch <- prometheus.MustNewConstMetric(busDropped, prometheus.CounterValue, float64(s.Dropped), s.Name)
	}
}

// meshCollector exports the mesh's state and counters on /metrics.
type meshCollector struct{ m *mesh.Mesh }

var (
	meshMembers         = prometheus.NewDesc("satellite_mesh_members", "Mesh members by status (alive, failed, leaving, left, foreign) as this node sees them.", []string{"status"}, nil)
	meshDigestsReceived = prometheus.NewDesc("satellite_mesh_digests_received_total", "Digests that came by gossip, replays included.", nil, nil)
	meshDigestsAccepted = prometheus.NewDesc("satellite_mesh_digests_accepted_total", "Digests stored as a member's newest.", nil, nil)
	meshDigestsDropped  = prometheus.NewDesc("satellite_mesh_digests_dropped_total", "Digests received and not stored, by reason (malformed, newer format, not a member, foreign, old boot, not newer, unconfirmed boot).", []string{"reason"}, nil)
	meshDigestsRepaired = prometheus.NewDesc("satellite_mesh_digests_repaired_total", "Digests gossip had not brought that anti-entropy reads of peers' recent digests did.", nil, nil)
	meshFullSyncs       = prometheus.NewDesc("satellite_mesh_full_syncs_total", "Full reads of a peer's digests, made after joining and when a partition heals.", nil, nil)
	meshPushes          = prometheus.NewDesc("satellite_mesh_digest_pushes_total", "This node's changed digests POSTed to members' peer endpoints, by result.", []string{"result"}, nil)
	meshGossipBytes     = prometheus.NewDesc("satellite_mesh_gossip_bytes_total", "Bytes of serf's gossip (UDP and TCP, framing and encryption included), by direction (in, out).", []string{"direction"}, nil)
	meshReadSeconds     = prometheus.NewDesc("satellite_mesh_peer_read_seconds", "Reads of peers' endpoints by this node (background, watches, live), by latency.", nil, nil)
	meshReadErrors      = prometheus.NewDesc("satellite_mesh_peer_read_errors_total", "Reads of peers' endpoints that failed.", nil, nil)
	meshNotices         = prometheus.NewDesc("satellite_mesh_unreachable_notices_sent_total", "Notices this node gossiped that a member it watches is unreachable, or back.", nil, nil)
	meshOldestData      = prometheus.NewDesc("satellite_mesh_oldest_data_age_seconds", "Age of the oldest data the cluster view holds about an alive satellite member.", nil, nil)
	meshPeerRefused     = prometheus.NewDesc("satellite_mesh_peer_requests_refused_total", "Peer endpoint requests refused for their token (missing, malformed, expired, wrong key or request, replayed).", nil, nil)
	meshSeenNonces      = prometheus.NewDesc("satellite_mesh_peer_nonces", "Peer request nonces remembered against replays.", nil, nil)
)

// notifyCollector exports the notifiers' counters.
type notifyCollector struct{ d *notify.Dispatcher }

var notifications = prometheus.NewDesc("satellite_notifications_total",
	"Notifications by notifier and result: sent (messages delivered), retried (failed attempts retried), dead_lettered (rejected by the receiver), dropped (not delivered when the agent stopped, or over the queue), suppressed (alerts not sent: a recovery that cancelled its unsent problem, alerts folded into \"and N more\").",
	[]string{"notifier", "result"}, nil)

func (c *notifyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- notifications }

func (c *notifyCollector) Collect(ch chan<- prometheus.Metric) {
	for addr, s := range c.d.Stats() {
		for _, r := range []struct {
			name string
			n    uint64
		}{{"sent", s.Sent}, {"retried", s.Retried}, {"dead_lettered", s.DeadLettered}, {"dropped", s.Dropped}, {"suppressed", s.Suppressed}} {
			ch <- prometheus.MustNewConstMetric(notifications, prometheus.CounterValue, float64(r.n), addr, r.name)
		}
	}
}

func (c *meshCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{meshMembers, meshDigestsReceived, meshDigestsAccepted, meshDigestsDropped, meshDigestsRepaired, meshFullSyncs, meshPushes,
		meshGossipBytes, meshReadSeconds, meshReadErrors, meshNotices, meshOldestData, meshPeerRefused, meshSeenNonces} {
		ch <- d
	}
}

func (c *meshCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Stats()
	vs := c.m.ViewStats()
	for _, status := range []string{"alive", "failed", "leaving", "left", "foreign"} {
		ch <- prometheus.MustNewConstMetric(meshMembers, prometheus.GaugeValue, float64(vs.Members[status]), status)
	}
	ch <- prometheus.MustNewConstMetric(meshDigestsReceived, prometheus.CounterValue, float64(s.DigestsReceived))
	ch <- prometheus.MustNewConstMetric(meshDigestsAccepted, prometheus.CounterValue, float64(s.DigestsAccepted))
	for reason, n := range s.DigestsDropped {
		ch <- prometheus.MustNewConstMetric(meshDigestsDropped, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(meshDigestsRepaired, prometheus.CounterValue, float64(s.DigestsRepaired))
	ch <- prometheus.MustNewConstMetric(meshFullSyncs, prometheus.CounterValue, float64(s.FullSyncs))
	ch <- prometheus.MustNewConstMetric(meshPushes, prometheus.CounterValue, float64(s.DigestsPushed), "ok")
	ch <- prometheus.MustNewConstMetric(meshPushes, prometheus.CounterValue, float64(s.PushErrors), "error")
	ch <- prometheus.MustNewConstMetric(meshGossipBytes, prometheus.CounterValue, float64(s.GossipBytesIn), "in")
	ch <- prometheus.MustNewConstMetric(meshGossipBytes, prometheus.CounterValue, float64(s.GossipBytesOut), "out")
	buckets := make(map[float64]uint64, len(s.ReadSeconds.Bounds))
	for i, b := range s.ReadSeconds.Bounds {
		buckets[b] = s.ReadSeconds.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(meshReadSeconds, s.ReadSeconds.Count, s.ReadSeconds.Sum, buckets)
	ch <- prometheus.MustNewConstMetric(meshReadErrors, prometheus.CounterValue, float64(s.ReadErrors))
	ch <- prometheus.MustNewConstMetric(meshNotices, prometheus.CounterValue, float64(s.NoticesSent))
	ch <- prometheus.MustNewConstMetric(meshOldestData, prometheus.GaugeValue, vs.OldestDataAge.Seconds())
	ch <- prometheus.MustNewConstMetric(meshPeerRefused, prometheus.CounterValue, float64(s.PeerRefused))
	ch <- prometheus.MustNewConstMetric(meshSeenNonces, prometheus.GaugeValue, float64(s.SeenNonces))
}
