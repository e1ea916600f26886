// Package tcpcheck is the `tcp` check type: a port accepts connections.
package tcpcheck

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "tcp" "NAME"`.
const Type = "tcp"

// MetricLatency is the connect time in milliseconds.
const MetricLatency = "latency_ms"

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"address": &hcldec.AttrSpec{Name: "address", Type: cty.String, Required: true},
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricLatency},
		Build:   Build,
		Sample:  sample,
		Doc:     "A TCP port accepts connections.",
	})
}

// Build validates a decoded `tcp` body and returns its checker. It does no
// I/O (a host name is resolved when the check runs); a nil Checker comes back
// when the address is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	addr, ok := dsl.Required(a, "address", `the host:port to connect to, such as "127.0.0.1:2379"`, a.String)
	if !ok || !checks.ValidateHostPort(a, "address", addr, `"127.0.0.1:2379", "etcd.internal:2379" or "[::1]:2379"`) {
		return nil, a.Diags
	}
	return &Checker{address: addr}, a.Diags
}

// Checker connects to one address once per run. It is safe for concurrent use.
type Checker struct {
	address string
}

// Check opens a connection and closes it at once.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	d := net.Dialer{KeepAlive: -1}
	conn, err := d.DialContext(ctx, "tcp", c.address)
	took := time.Since(start)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: describe(ctx, err, c.address, start)}
	}
	_ = conn.Close()
	return checks.Result{
		Metrics: map[string]float64{MetricLatency: float64(took) / float64(time.Millisecond)},
	}
}

// describe says what went wrong; a run cut short by its deadline says that it
// timed out, and after how long.
func describe(ctx context.Context, err error, address string, start time.Time) string {
	switch {
	case checks.IsTimeout(ctx, err):
		if _, ok := ctx.Deadline(); ok {
			return fmt.Sprintf("connect to %s: %s", address, checks.Interrupted(ctx, start))
		}
		return fmt.Sprintf("connect to %s: timed out: %v", address, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("connect to %s: canceled", address)
	default:
		return err.Error()
	}
}
