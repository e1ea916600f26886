package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/satellite-hq/satellite/events"
)

// A subscriber that cannot keep up has its drops on /metrics, by name.
func TestBusDropsOnMetrics(t *testing.T) {
	bus := events.New(nil)
	entered := make(chan struct{}, 1)
	stuck := bus.Subscribe("sink.plugin.slow", events.SubscribeOptions{Queue: 4}, func(ctx context.Context, _ *events.Event) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
	})
	bus.Subscribe("history", events.SubscribeOptions{}, func(context.Context, *events.Event) {})
	bus.Publish(&events.Event{Kind: events.CheckRun})
	<-entered
	for range 10 {
		bus.Publish(&events.Event{Kind: events.CheckRun})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&busCollector{bus: bus})
	want := `
# HELP satellite_events_dropped_total Events the subscriber lost because its queue was full.
# TYPE satellite_events_dropped_total counter
satellite_events_dropped_total{subscriber="history"} 0
satellite_events_dropped_total{subscriber="sink.plugin.slow"} 6
# HELP satellite_events_published_total Events published on the agent's events bus (check runs and cluster events).
# TYPE satellite_events_published_total counter
satellite_events_published_total 11
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "satellite_events_dropped_total", "satellite_events_published_total"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	stuck.Close(ctx)
	bus.Close(context.Background())
}
