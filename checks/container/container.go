// Package containercheck is the `container` check type: a smoke test run as
// one container, or a group of containers sharing a network, through
// containerd.
//
// Every container runs unprivileged (as nobody unless told otherwise, with no
// capabilities, containerd's default seccomp profile, no new privileges, a
// read-only root file system unless asked, no host mounts) in the check's
// containerd namespace. Everything a run creates (containers,
// tasks, snapshots, its lease, its network namespace) carries the managed
// label and this process's owner ID, and is removed when the run ends; what a
// crashed agent left behind is removed the first time this process uses the
// socket and namespace.
package containercheck

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "container" "NAME"`.
const Type = "container"

// Metric names the type reports.
const (
	// MetricDuration is the time from the first container's start to the
	// verdict, in milliseconds (image pulls and imports excluded).
	MetricDuration = "duration_ms"
	// MetricExitCode is the exit status of the container that decided the
	// verdict; absent when it did not exit (timeout).
	MetricExitCode = "exit_code"
)

// Defaults of the check's own attributes.
const (
	DefaultSocket    = "/run/containerd/containerd.sock"
	DefaultNamespace = "satellite"
	NetworkIsolated  = "isolated"
	NetworkHost      = "host"
)

// containerAttrs are the attributes of one container, at the top level of a
// single-container check or in each `container "NAME"` block.
func containerAttrs() hcldec.ObjectSpec {
	return hcldec.ObjectSpec{
		"image":         &hcldec.AttrSpec{Name: "image", Type: cty.String},
		"image_archive": &hcldec.AttrSpec{Name: "image_archive", Type: cty.String},
		"command":       &hcldec.AttrSpec{Name: "command", Type: cty.List(cty.String)},
		"env":           &hcldec.AttrSpec{Name: "env", Type: cty.Map(cty.String)},
		"expect_exit":   &hcldec.AttrSpec{Name: "expect_exit", Type: cty.Number},
		"expect_output": &hcldec.AttrSpec{Name: "expect_output", Type: cty.String},
		"memory":        &hcldec.AttrSpec{Name: "memory", Type: cty.String},
		"cpus":          &hcldec.AttrSpec{Name: "cpus", Type: cty.Number},
		"read_only":     &hcldec.AttrSpec{Name: "read_only", Type: cty.Bool},
		"user":          &hcldec.AttrSpec{Name: "user", Type: cty.String},
		"ready":         &hcldec.AttrSpec{Name: "ready", Type: cty.String},
	}
}

// Spec is the schema of the type's own attributes and blocks.
var Spec = func() hcldec.ObjectSpec {
	s := containerAttrs()
	s["socket"] = &hcldec.AttrSpec{Name: "socket", Type: cty.String}
	s["namespace"] = &hcldec.AttrSpec{Name: "namespace", Type: cty.String}
	s["network"] = &hcldec.AttrSpec{Name: "network", Type: cty.String}
	nested := containerAttrs()
	nested["name"] = &hcldec.BlockLabelSpec{Index: 0, Name: "name"}
	s["container"] = &hcldec.BlockListSpec{TypeName: "container", Nested: nested}
	return s
}()

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"exit_code":  cty.Number,
	"output":     cty.String,
	"oom_killed": cty.Bool,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricDuration, MetricExitCode},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A smoke test run in one container, or a group sharing a network, through containerd.",
	})
}

// DefaultUser is the uid:gid containers run as unless `user` says otherwise:
// nobody, so that even a broken image cannot act as root in its namespace.
const DefaultUser = "65534:65534"

// containerSpec is one validated container of a check.
type containerSpec struct {
	name         string
	image        string // a reference to pull when missing
	archive      string // or an absolute path to an OCI/docker archive
	command      []string
	env          []string
	expectExit   int
	judged       bool // states expectations: its result decides the verdict
	expectOutput *regexp.Regexp
	memory       uint64 // bytes; 0 means no limit
	cpus         float64
	readOnly     bool
	uid, gid     uint32
	ready        string // host:port, empty when not waited for
}

// Build validates a decoded `container` body and returns its checker. It
// does no I/O: images are pulled or imported and containerd dialled when
// the check runs.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if cfg.IsNull() {
		return nil, nil
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{
		socket:    a.StringOr("socket", DefaultSocket),
		namespace: a.StringOr("namespace", DefaultNamespace),
		network:   a.StringOr("network", NetworkIsolated),
	}
	unknown := !cfg.IsWhollyKnown()
	if !filepath.IsAbs(c.socket) {
		a.Errorf("socket", "Invalid socket", "The socket %q must be an absolute path, such as %q.", c.socket, DefaultSocket)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,75}[A-Za-z0-9])?$`).MatchString(c.namespace) {
		a.Errorf("namespace", "Invalid namespace", "The containerd namespace %q must be letters, digits, dots, dashes and underscores, starting and ending with a letter or digit.", c.namespace)
	}
	if c.network != NetworkIsolated && c.network != NetworkHost {
		a.Errorf("network", "Invalid network", "The network %q is not known; use %q (a fresh network namespace with loopback only, shared by the group) or %q (the node's network).", c.network, NetworkIsolated, NetworkHost)
	}

	blocks := a.Value("container")
	top := containerAttrs()
	var topSet []string
	for name := range top {
		if a.IsSet(name) {
			topSet = append(topSet, name)
		}
	}
	hasBlocks := !blocks.IsNull() && blocks.IsKnown() && blocks.LengthInt() > 0
	switch {
	case hasBlocks && len(topSet) > 0:
		a.Errorf(topSet[0], "Container attribute outside a container block", "The check declares container blocks, so %q belongs in one of them: a check is either one container (attributes at the top) or a group of container blocks, not both.", topSet[0])
	case hasBlocks:
		bodies := containerBodies(env.Body)
		seen := map[string]bool{}
		i := 0
		for it := blocks.ElementIterator(); it.Next(); i++ {
			_, v := it.Element()
			var body hcl.Body
			rng := env.Block
			if i < len(bodies) {
				body, rng = bodies[i].Body, bodies[i].DefRange
			}
			ba := dsl.NewAttrs(v, body, rng)
			name := ba.StringOr("name", "")
			if !validName.MatchString(name) {
				ba.Errorf("name", "Invalid container name", "The container name %q must be 1 to 32 letters, digits, dots, dashes or underscores, starting and ending with a letter or digit: it becomes part of containerd IDs.", name)
			}
			if seen[name] {
				ba.Errorf("name", "Duplicate container", "Another container block of this check is named %q; give each a name of its own.", name)
			}
			seen[name] = true
			cs := buildContainer(ba, name, env.BaseDir)
			a.Diags = append(a.Diags, ba.Diags...)
			c.group = append(c.group, cs)
		}
	case len(topSet) > 0 || unknown:
		c.group = append(c.group, buildContainer(a, "main", env.BaseDir))
	default:
		a.Errorf("image", "Missing image", "A container check needs an image (or image_archive) and a command at the top level, or one or more container \"NAME\" blocks.")
	}
	if a.Diags.HasErrors() || unknown {
		return nil, a.Diags
	}
	judged := false
	for _, cs := range c.group {
		judged = judged || cs.judged
	}
	if !judged { // by default the last container decides, expecting exit 0
		c.group[len(c.group)-1].judged = true
	}
	if last := c.group[len(c.group)-1]; last.ready != "" && !last.judged {
		a.Warnf("ready", "Ready on a container nobody waits for", "Container %q waits for %s but no container starts after it; ready only orders a group's start.", last.name, last.ready)
	}
	c.init()
	return c, a.Diags
}

// validName is what a container block's label may be: it becomes part of
// the container's ID in containerd, whose identifiers are restricted.
var validName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$`)

// containerBodies returns the container blocks of body in source order, to
// point diagnostics at the right one.
func containerBodies(body hcl.Body) []*hcl.Block {
	if body == nil {
		return nil
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "container", LabelNames: []string{"name"}}}})
	if content == nil {
		return nil
	}
	return content.Blocks
}

func buildContainer(a *dsl.Attrs, name, baseDir string) containerSpec {
	cs := containerSpec{name: name, readOnly: true}
	img, hasImg := a.String("image")
	arc, hasArc := a.String("image_archive")
	switch {
	case a.IsSet("image") && a.IsSet("image_archive"):
		a.Errorf("image_archive", "Both image and image_archive", "Container %q sets both image and image_archive; set exactly one: a reference to pull, or an archive file to import.", name)
	case hasImg:
		if img == "" {
			a.Errorf("image", "Empty image", "Container %q has an empty image reference; write one such as \"registry.internal/satellite/probe:1.2\".", name)
		}
		cs.image = img
	case hasArc:
		if arc == "" {
			a.Errorf("image_archive", "Empty image_archive", "Container %q has an empty image_archive path; name an OCI or docker archive file.", name)
		}
		if !filepath.IsAbs(arc) {
			arc = filepath.Join(baseDir, arc)
		}
		cs.archive = arc
	case !a.IsSet("image") && !a.IsSet("image_archive"):
		a.Errorf("image", "Missing image", "Container %q needs an image (a reference to pull) or an image_archive (an archive file to import).", name)
	}
	if cmd, ok := a.StringList("command"); ok {
		if len(cmd) == 0 || cmd[0] == "" {
			a.Errorf("command", "Empty command", "Container %q has an empty command; write the argv list, such as [\"/probe\", \"exit\", \"0\"].", name)
		}
		cs.command = cmd
	}
	if env, ok := a.StringMap("env"); ok {
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				a.Errorf("env", "Invalid environment variable", "Container %q: %q is not a valid environment variable name.", name, k)
			}
			cs.env = append(cs.env, k+"="+v)
		}
	}
	if a.IsSet("expect_exit") {
		cs.judged = true
		if n, ok := a.Int("expect_exit"); ok {
			if n < 0 || n > 255 {
				a.Errorf("expect_exit", "Invalid exit code", "Container %q expects exit code %d; an exit code is a number from 0 to 255.", name, n)
			}
			cs.expectExit = int(n)
		}
	}
	if re, ok := a.String("expect_output"); ok {
		cs.judged = true
		r, err := regexp.Compile(re)
		if err != nil {
			a.Errorf("expect_output", "Invalid regular expression", "Container %q: expect_output %q is not a valid regular expression: %s.", name, re, err)
		}
		cs.expectOutput = r
	} else if a.IsSet("expect_output") {
		cs.judged = true
	}
	if m, ok := a.String("memory"); ok {
		n, err := humanize.ParseBytes(m)
		switch {
		case err != nil:
			a.Errorf("memory", "Invalid memory", "Container %q: memory must be a size such as \"64MiB\" or \"1GB\", not %q.", name, m)
		case n < 4<<20:
			a.Errorf("memory", "Memory too small", "Container %q: memory %q is below 4MiB, too little for any container to start.", name, m)
		}
		cs.memory = n
	}
	if f, ok := a.Number("cpus"); ok {
		if f <= 0 || f > 1024 {
			a.Errorf("cpus", "Invalid cpus", "Container %q: cpus must be a number above 0, such as 0.5 or 2, not %g.", name, f)
		}
		cs.cpus = f
	}
	if ro, ok := a.Bool("read_only"); ok {
		cs.readOnly = ro
	}
	user := a.StringOr("user", DefaultUser)
	uid, gid, err := parseUser(user)
	if err != nil {
		a.Errorf("user", "Invalid user", "Container %q: user %q %s; write a numeric \"UID:GID\" such as %q.", name, user, err, DefaultUser)
	}
	cs.uid, cs.gid = uid, gid
	if r, ok := a.String("ready"); ok {
		hp, err := parseReady(r)
		if err != nil {
			a.Errorf("ready", "Invalid ready address", "Container %q: ready %q %s; write it like \"tcp://127.0.0.1:8080\".", name, r, err)
		}
		cs.ready = hp
	}
	return cs
}

// parseUser reads a numeric "UID:GID" (or "UID", then GID = UID): names
// would need the image's /etc/passwd, read only at run time.
func parseUser(s string) (uint32, uint32, error) {
	u, g, found := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, errors.New("is not numeric")
	}
	if !found {
		return uint32(uid), uint32(uid), nil
	}
	gid, err := strconv.ParseUint(g, 10, 32)
	if err != nil {
		return 0, 0, errors.New("has a non-numeric group")
	}
	return uint32(uid), uint32(gid), nil
}

// parseReady reads "tcp://HOST:PORT" into HOST:PORT.
func parseReady(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.Path != "" || u.RawQuery != "" {
		return "", errors.New("is not a tcp://HOST:PORT address")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "", errors.New("has no host and port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("has port %q; a port is a number from 1 to 65535", port)
	}
	return u.Host, nil
}
