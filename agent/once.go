package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// WriteOnce writes the events of `run --once` to the local history (unless
// agent.history is false) and to each sink that takes them, routed as the
// agent routes them (engine.Sink.Takes). It writes directly, without the
// spools: a running agent on the same node holds those.
func WriteOnce(ctx context.Context, cfg *dsl.Config, plan *engine.Plan, evs []engine.Event, log hclog.Logger) error {
	var errs []error
	// write writes recs and closes s, which it owns.
	write := func(name string, s sinks.Sink, recs []sinks.Record) {
		if len(recs) > 0 {
			if err := s.Write(ctx, recs); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	all := make([]sinks.Record, len(evs))
	for i, e := range evs {
		all[i] = sinks.RecordOf(e.ToBus(cfg.Agent.Name, cfg.Redact))
	}
	if cfg.Agent.History && len(all) > 0 {
		db, err := sqlite.Open(ctx, filepath.Join(cfg.Agent.DataDir, sqlite.HistoryFile), cfg.Agent.HistoryRetention)
		if err != nil {
			errs = append(errs, fmt.Errorf("history: %w", err))
		} else {
			write("history", db, all)
		}
	}
	for _, s := range plan.Sinks {
		if s.Opener == nil {
			continue
		}
		var recs []sinks.Record
		for i, e := range evs {
			if s.Takes(e.Check.Sinks, e.Changed) {
				recs = append(recs, all[i])
			}
		}
		if len(recs) == 0 {
			continue
		}
		sink, err := s.Opener.Open(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Address, err))
			continue
		}
		write(s.Address, sink, recs)
	}
	if log != nil && len(errs) == 0 {
		log.Debug("results written", "records", len(all), "sinks", len(plan.Sinks))
	}
	return errors.Join(errs...)
}
