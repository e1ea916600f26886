// Package execcheck is the `exec` check type: a command's exit code decides
// the status, following the Nagios plugin convention (0 passing, 1 warning,
// anything else critical).
//
// The command runs without a shell, with only the environment the check
// declares, in a process group of its own that is killed at the timeout.
// Exec checks only run on nodes whose config sets agent { enable_exec = true }.
package execcheck

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "exec" "NAME"`.
const Type = "exec"

// Metric names the type reports.
const (
	// MetricExitCode is the command's exit status; absent when it did not exit
	// on its own (killed by a signal or at the timeout) or did not start.
	MetricExitCode = "exit_code"
	// MetricDuration is the time from start to exit, in milliseconds.
	MetricDuration = "duration_ms"
)

// MaxOutput is how much of the command's output (stdout and stderr together)
// is kept; the rest is read and thrown away, so the command never blocks on a
// full pipe.
const MaxOutput = 4 << 10

// DefaultPath is where a command named without a slash is looked up when
// env sets no PATH. The agent's own PATH is never used.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultDir is the working directory of a command when dir is not set.
const DefaultDir = "/"

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"command": &hcldec.AttrSpec{Name: "command", Type: cty.List(cty.String), Required: true},
	"env":     &hcldec.AttrSpec{Name: "env", Type: cty.Map(cty.String)},
	"dir":     &hcldec.AttrSpec{Name: "dir", Type: cty.String},
	"user":    &hcldec.AttrSpec{Name: "user", Type: cty.String},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"exit_code": cty.Number,
	"output":    cty.String,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricExitCode, MetricDuration},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A command exits 0 (passing), 1 (warning) or anything else (critical), as Nagios plugins do.",
	})
}

// Build validates a decoded `exec` body and returns its checker. It does no
// I/O: the command is looked up and the user resolved when the check runs.
// A check on a node without agent.enable_exec is an error on the block.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if !env.Agent.EnableExec {
		blk := env.Block
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Exec checks are not enabled",
			Detail: "This node's config does not allow exec checks, which run commands as the agent's user (usually root). " +
				"To allow them, set agent { enable_exec = true } in the node's config, usually its node-local file.",
			Subject: &blk,
		})
	}
	if !cfg.IsKnown() {
		return nil, diags // nothing more to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{dir: DefaultDir}
	complete := true

	argv, ok := dsl.Required(a, "command", `the program and its arguments as a list, such as ["/usr/lib/nagios/plugins/check_disk", "-w", "10%"]`, a.StringList)
	if ok && validCommand(a, argv) {
		c.argv = argv
		if strings.ContainsRune(argv[0], '/') {
			c.path = dsl.ResolvePath(env.BaseDir, argv[0])
		}
	} else {
		complete = false
	}

	if m, ok := a.StringMap("env"); ok {
		c.env = make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			switch {
			case k == "" || strings.ContainsAny(k, "=\x00"):
				a.Errorf("env", "Invalid environment variable name", "%q cannot be the name of an environment variable: a name must not be empty or contain \"=\" or a NUL character.", k)
				complete = false
			case strings.ContainsRune(v, 0):
				a.Errorf("env", "Invalid environment variable value", "The value of %s contains a NUL character, which the environment cannot hold.", k)
				complete = false
			default:
				c.env = append(c.env, k+"="+v)
				if k == "PATH" {
					c.lookPath, c.pathSet = v, true
				}
			}
		}
	} else if a.IsUnknown("env") {
		complete = false
	}
	if c.env == nil {
		c.env = []string{} // not nil: a nil Env would hand the agent's environment to the command
	}
	if !c.pathSet {
		c.lookPath = DefaultPath
	}

	if d, ok := a.String("dir"); ok {
		switch {
		case d == "":
			a.Errorf("dir", "Empty working directory", "dir must be a directory, such as \"/var/lib/app\", or be left out (the default is %q).", DefaultDir)
			complete = false
		case strings.ContainsRune(d, 0):
			a.Errorf("dir", "Invalid working directory", "dir contains a NUL character.")
			complete = false
		default:
			c.dir = dsl.ResolvePath(env.BaseDir, d)
		}
	} else if a.IsUnknown("dir") {
		complete = false
	}

	if u, ok := a.String("user"); ok {
		switch {
		case u == "":
			a.Errorf("user", "Empty user", "user must be a user name or numeric uid, such as \"nobody\", or be left out to run the command as the agent's user.")
			complete = false
		case strings.ContainsAny(u, ":\x00\n"):
			a.Errorf("user", "Invalid user", "%q is not a user name: it contains \":\", a NUL or a line break.", u)
			complete = false
		default:
			c.user = u
		}
	} else if a.IsUnknown("user") {
		complete = false
	}

	diags = append(diags, a.Diags...)
	if diags.HasErrors() || !complete {
		return nil, diags
	}
	return c, diags
}

// validCommand reports what is wrong with an argv list, on the attribute.
func validCommand(a *dsl.Attrs, argv []string) bool {
	if len(argv) == 0 {
		a.Errorf("command", "Empty command", "command must name a program to run, with its arguments: a list such as [\"/usr/lib/nagios/plugins/check_load\", \"-w\", \"4\"].")
		return false
	}
	if argv[0] == "" {
		a.Errorf("command", "Empty program name", "The first element of command is the program to run and must not be empty.")
		return false
	}
	for i, s := range argv {
		if strings.ContainsRune(s, 0) {
			a.Errorf("command", "Invalid command", "Element %d of command contains a NUL character, which a command line cannot hold.", i)
			return false
		}
	}
	if strings.ContainsRune(argv[0], ' ') && !strings.ContainsRune(argv[0], '/') {
		a.Warnf("command", "Program name with spaces", "command runs %q as one program name, without a shell; write each argument as its own element, such as %s.", argv[0], quoteList(append(strings.Fields(argv[0]), argv[1:]...)))
	}
	return true
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
