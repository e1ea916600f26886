// Package heartbeatcheck is the `heartbeat` check type, a dead-man switch:
// it passes while something (a cron job, a backup) posts a heartbeat to the
// agent's API, POST /v1/heartbeat/NAME, at least once every `within`.
//
// The heartbeats are kept in the agent's data dir, one small file per check
// (DATA_DIR/heartbeats/NAME.json), so that they survive a restart; the
// agent's API writes them through the checker (Beat), and each run reads
// them.
package heartbeatcheck

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "heartbeat" "NAME"`.
const Type = "heartbeat"

// MetricAgeSeconds is the time since the latest heartbeat.
const MetricAgeSeconds = "age_seconds"

// MinWithin is the shortest `within`.
const MinWithin = time.Second

// maxToken bounds a token file, as the API's own.
const maxToken = 4 << 10

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"within":     &hcldec.AttrSpec{Name: "within", Type: cty.DynamicPseudoType},
	"token_file": &hcldec.AttrSpec{Name: "token_file", Type: cty.String},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	// last_heartbeat is the RFC 3339 time of the latest heartbeat; null
	// before the first.
	"last_heartbeat": cty.String,
	// failed is true when the latest heartbeat reported a failure.
	"failed": cty.Bool,
	// message is what the latest heartbeat said; "" when nothing.
	"message": cty.String,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricAgeSeconds},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A dead-man switch: a job posts a heartbeat to the agent's API at least once every `within`.",
	})
}

// Build validates a decoded `heartbeat` body and returns its checker. It does
// no I/O: token_file is read when a heartbeat comes, and at every run.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{address: env.Address}
	complete := true

	if d, ok := dsl.Required(a, "within", `how long may pass between two heartbeats, such as "26h" for a daily job`, a.Duration); ok {
		if d < MinWithin {
			a.Errorf("within", "Invalid within", "within must be at least %s, such as \"26h\" for a job that runs daily: it is how long may pass between two heartbeats.", MinWithin)
		}
		c.within = d
	} else {
		complete = false
	}

	if p, ok := a.String("token_file"); ok {
		switch {
		case p == "":
			a.Errorf("token_file", "Empty path", "token_file must be the path of a file holding the check's own token; leave it out to accept the API's full token only.")
		case strings.IndexByte(p, 0) >= 0:
			a.Errorf("token_file", "Invalid path", "The path %q contains a NUL byte, which no file name can hold.", p)
		}
		c.tokenFile = dsl.ResolvePath(env.BaseDir, p)
	} else if a.IsUnknown("token_file") {
		complete = false
	}

	switch {
	case env.Address == "":
		a.Errorf("", "No check address", "The heartbeat type needs the check's address to name its file; this engine gave none.")
	case env.Agent.DataDir == "":
		a.Errorf("", "No data dir", "The heartbeat type keeps its heartbeats in agent.data_dir, which is empty.")
	}
	c.path = Path(env.Agent.DataDir, env.Address)

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// Checker judges the heartbeats of one check. It is safe for concurrent use.
type Checker struct {
	address   string
	path      string // DATA_DIR/heartbeats/FILE
	within    time.Duration
	tokenFile string // "" without token_file
	guard     checks.HangGuard
	// now is time.Now; tests move it.
	now func() time.Time
}

// Address is the check's address, heartbeat.NAME or heartbeat.NAME["key"].
func (c *Checker) Address() string { return c.address }

// Within is how long may pass between two heartbeats.
func (c *Checker) Within() time.Duration { return c.within }

// File is where the check's heartbeats are kept.
func (c *Checker) File() string { return c.path }

// TokenFile is token_file's path, "" without one.
func (c *Checker) TokenFile() string { return c.tokenFile }

func (c *Checker) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Token reads the check's own token from token_file, now: a new token needs
// no reload. has is false without token_file. The error, when the file cannot
// be read or is empty, never holds the token.
func (c *Checker) Token() (token string, has bool, err error) {
	if c.tokenFile == "" {
		return "", false, nil
	}
	b, err := dsl.ReadRegularFile(c.tokenFile, maxToken, "a heartbeat token_file")
	if err != nil {
		return "", true, fmt.Errorf("token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", true, fmt.Errorf("token_file %s is empty", c.tokenFile)
	}
	return t, true, nil
}

// Beat records a heartbeat now: a failure when failed, with message (its
// body, cleaned by CleanMessage). The caller has judged the token.
func (c *Checker) Beat(failed bool, message string) (Record, error) {
	return beat(c.path, c.address, c.clock(), failed, message)
}

// Check reads the check's heartbeat file (writing it, the first time, with
// the time the check started watching) and judges the latest heartbeat's
// age against within.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(c.path + ": " + checks.Interrupted(ctx, start))
	}
	now := c.clock()
	var (
		rec    Record
		err    error
		tokErr error
	)
	if gerr := c.guard.Do(ctx, func() {
		rec, err = watch(c.path, c.address, now)
		_, _, tokErr = c.Token()
	}); gerr != nil {
		var blocked checks.ErrBlocked
		if errors.As(gerr, &blocked) {
			return critical(c.path + ": " + blocked.Error())
		}
		return critical(c.path + ": " + checks.Interrupted(ctx, start))
	}
	if err != nil {
		return critical(err.Error())
	}
	res := c.judge(rec, now)
	if tokErr != nil {
		msg := tokErr.Error() + " (heartbeats with the check's own token are refused until it can be read)"
		if res.Error != "" {
			msg = res.Error + "; " + msg
		}
		res.Status, res.Error = checks.StatusCritical, msg
	}
	return res
}

// judge turns a record into the run's result at now.
func (c *Checker) judge(rec Record, now time.Time) checks.Result {
	res := checks.Result{Attrs: map[string]cty.Value{
		"failed":         cty.BoolVal(rec.Failed),
		"message":        cty.StringVal(rec.Message),
		"last_heartbeat": cty.NullVal(cty.String),
	}}
	within := human(c.within)
	if rec.Last.IsZero() {
		waited := now.Sub(rec.Watching)
		if waited <= c.within {
			// A new check, as healthchecks.io's "new": nothing is due yet.
			res.Detail = fmt.Sprintf("no heartbeat yet; watching since %s, critical from %s without one",
				stamp(rec.Watching), stamp(rec.Watching.Add(c.within)))
			return res
		}
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("no heartbeat yet, %s after this node started watching (within %s)", human(waited), within)
		res.Detail = "watching since " + stamp(rec.Watching)
		return res
	}
	age := max(now.Sub(rec.Last), 0) // a clock set back: as if just now
	res.Metrics = map[string]float64{MetricAgeSeconds: age.Seconds()}
	res.Attrs["last_heartbeat"] = cty.StringVal(stamp(rec.Last))
	said := ""
	if rec.Message != "" {
		said = ": " + rec.Message
	}
	switch {
	case age > c.within:
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("no heartbeat for %s (within %s)", human(age), within)
		if rec.Failed {
			res.Error += "; the last one reported a failure" + said
		}
		res.Detail = "last heartbeat at " + stamp(rec.Last)
	case rec.Failed:
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("the last heartbeat, %s ago, reported a failure%s", human(age), said)
		res.Detail = "last heartbeat at " + stamp(rec.Last)
	default:
		res.Detail = fmt.Sprintf("last heartbeat %s ago, at %s%s", human(age), stamp(rec.Last), said)
	}
	return res
}

// stamp writes a time as RFC 3339 in UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// human writes a duration as Go does, rounded to the second under an hour
// and to the minute above, without the zero units: "45s", "1m30s", "3m",
// "2h13m", "26h".
func human(d time.Duration) string {
	unit := time.Minute
	if d < time.Hour {
		unit = time.Second
	}
	s := d.Round(unit).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}
