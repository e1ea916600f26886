package dsl

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

var agentSpec = hcldec.ObjectSpec{
	"name":              &hcldec.AttrSpec{Name: "name", Type: cty.String},
	"data_dir":          &hcldec.AttrSpec{Name: "data_dir", Type: cty.String},
	"tags":              &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
	"enable_exec":       &hcldec.AttrSpec{Name: "enable_exec", Type: cty.Bool},
	"max_concurrent":    &hcldec.AttrSpec{Name: "max_concurrent", Type: cty.Number},
	"history":           &hcldec.AttrSpec{Name: "history", Type: cty.Bool},
	"history_retention": &hcldec.AttrSpec{Name: "history_retention", Type: cty.DynamicPseudoType},
}

var meshSpec = hcldec.ObjectSpec{
	"bind":             &hcldec.AttrSpec{Name: "bind", Type: cty.String},
	"advertise":        &hcldec.AttrSpec{Name: "advertise", Type: cty.String},
	"peer_port":        &hcldec.AttrSpec{Name: "peer_port", Type: cty.Number},
	"join":             &hcldec.AttrSpec{Name: "join", Type: cty.List(cty.String)},
	"retry_join":       &hcldec.AttrSpec{Name: "retry_join", Type: cty.List(cty.String)},
	"retry_interval":   &hcldec.AttrSpec{Name: "retry_interval", Type: cty.DynamicPseudoType},
	"encrypt_key_file": &hcldec.AttrSpec{Name: "encrypt_key_file", Type: cty.String},
	// rollout_timeout: members may run two config hashes this long before
	// it is a cluster alert. (notify, references, is kept raw: see
	// meshNotifySchema.)
	"rollout_timeout": &hcldec.AttrSpec{Name: "rollout_timeout", Type: cty.DynamicPseudoType},
	// tls secures the peer endpoint: served with cert_file, and peers
	// verified against ca_file (both ways).
	"tls": &hcldec.BlockSpec{TypeName: "tls", Nested: hcldec.ObjectSpec{
		"ca_file":   &hcldec.AttrSpec{Name: "ca_file", Type: cty.String, Required: true},
		"cert_file": &hcldec.AttrSpec{Name: "cert_file", Type: cty.String, Required: true},
		"key_file":  &hcldec.AttrSpec{Name: "key_file", Type: cty.String, Required: true},
	}},
}

var apiSpec = hcldec.ObjectSpec{
	"listen":          &hcldec.AttrSpec{Name: "listen", Type: cty.String},
	"token_file":      &hcldec.AttrSpec{Name: "token_file", Type: cty.String},
	"read_token_file": &hcldec.AttrSpec{Name: "read_token_file", Type: cty.String},
	"tls": &hcldec.BlockSpec{TypeName: "tls", Nested: hcldec.ObjectSpec{
		"cert_file":      &hcldec.AttrSpec{Name: "cert_file", Type: cty.String, Required: true},
		"key_file":       &hcldec.AttrSpec{Name: "key_file", Type: cty.String, Required: true},
		"client_ca_file": &hcldec.AttrSpec{Name: "client_ca_file", Type: cty.String},
	}},
}

// decodeBlock decodes a fixed block with a spec; it returns nil on errors.
func (l *loader) decodeBlock(fb fileBlock, spec hcldec.Spec, ctx *hcl.EvalContext) *Attrs {
	val, diags := hcldec.Decode(fb.block.Body, spec, ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	return NewAttrs(val, fb.block.Body, fb.block.DefRange)
}

// agent decodes the agent block with variables and functions only.
func (l *loader) agent() {
	a := &l.cfg.Agent
	a.DataDir = DefaultDataDir
	a.MaxConcurrent = DefaultMaxConcurrent
	a.History = true
	a.HistoryRetention = DefaultHistoryRetention
	a.Tags = map[string]string{}
	fb, ok := l.first("agent")
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": l.varsObject()},
		Functions: l.cfg.fe.functions(fb.dir),
	}
	var at *Attrs
	if ok {
		a.DeclRange = fb.block.DefRange
		// limits {} was read first (readLimits); the rest is decoded here.
		_, rest, _ := fb.block.Body.PartialContent(agentLimitsSchema)
		at = l.decodeBlock(fileBlock{block: &hcl.Block{Type: fb.block.Type, Body: rest, DefRange: fb.block.DefRange}, dir: fb.dir}, agentSpec, ctx)
	}
	if at == nil {
		at = NewAttrs(cty.NullVal(cty.DynamicPseudoType), nil, hcl.Range{})
	}
	if at.IsSet("name") && at.attr("name").RefuseSensitive("the agent name is the node's name in the mesh, in metrics and in every result") {
		a.Name = ""
	} else if at.IsSet("name") {
		if s, ok := at.String("name"); ok {
			if s == "" {
				at.Errorf("name", "Invalid agent name", "The agent name must not be empty.")
			}
			a.Name = s
		}
	} else if !l.opts.UnknownEnv {
		h, err := l.opts.Hostname()
		if err != nil {
			l.diags = append(l.diags, errDiag("Cannot read the host name", fmt.Sprintf("The agent name defaults to the host name, which cannot be read: %s. Set agent.name.", err), nil))
		}
		a.Name = h
	}
	l.cfg.Node.NameKnown = a.Name != "" || (at.IsSet("name") && !at.IsUnknown("name"))
	if s, ok := at.String("data_dir"); ok {
		if s == "" {
			at.Errorf("data_dir", "Invalid data_dir", "data_dir must not be empty.")
		}
		a.DataDir = s
	}
	if at.attr("tags").RefuseSensitive("agent tags are gossiped to every peer of the mesh and shown by `satellite members`") {
		// refused
	} else if m, ok := at.StringMap("tags"); ok {
		a.Tags = m
	}
	a.TagsRange = at.Range("tags")
	if b, ok := at.Bool("enable_exec"); ok {
		a.EnableExec = b
	} else if at.IsUnknown("enable_exec") {
		// validate --unknown-env: enable_exec = env(...) cannot be known, so
		// exec checks get the benefit of the doubt instead of an error each.
		a.EnableExec = true
	}
	if n, ok := at.Int("max_concurrent"); ok {
		if n < 1 || n > 10000 {
			at.Errorf("max_concurrent", "Invalid max_concurrent", "max_concurrent must be between 1 and 10000, not %d.", n)
		} else {
			a.MaxConcurrent = int(n)
		}
	}
	if b, ok := at.Bool("history"); ok {
		a.History = b
	}
	if d, ok := at.Duration("history_retention"); ok {
		if d <= 0 {
			at.Errorf("history_retention", "Invalid history_retention", "history_retention must be longer than zero.")
		}
		a.HistoryRetention = d
	}
	l.diags = append(l.diags, at.Diags...)
}

// node fixes node.name and node.tags.
func (l *loader) node() {
	l.cfg.Node.Name = l.cfg.Agent.Name
	l.cfg.Node.Tags = l.cfg.Agent.Tags
	if l.opts.NodeTags != nil {
		l.cfg.Node.Tags = l.opts.NodeTags
	}
}

// nodeValue is `node` in expressions.
func (c *Config) nodeValue() cty.Value {
	name := cty.UnknownVal(cty.String)
	if c.Node.NameKnown || c.Node.Name != "" {
		name = cty.StringVal(c.Node.Name)
	}
	tags := cty.MapValEmpty(cty.String)
	if len(c.Node.Tags) > 0 {
		m := make(map[string]cty.Value, len(c.Node.Tags))
		for k, v := range c.Node.Tags {
			m[k] = cty.StringVal(v)
		}
		tags = cty.MapVal(m)
	}
	return cty.ObjectVal(map[string]cty.Value{"name": name, "tags": tags})
}

// meshNotifySchema takes the mesh block's notify out before it is decoded:
// its elements are references (notifier.TYPE.NAME) the engine resolves.
var meshNotifySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "notify"}}}

// fixedBlocks decodes mesh and api, after locals, with the full context.
func (l *loader) fixedBlocks() {
	if fb, ok := l.first("mesh"); ok {
		m := &Mesh{Bind: DefaultBind, RetryInterval: DefaultRetryInterval, RolloutTimeout: DefaultRolloutTimeout, DeclRange: fb.block.DefRange}
		content, rest, diags := fb.block.Body.PartialContent(meshNotifySchema)
		l.diags = append(l.diags, diags...)
		m.Notify = content.Attributes["notify"]
		blk := *fb.block // the parsed block stays as it is
		blk.Body = rest
		fb.block = &blk
		if at := l.decodeBlock(fb, meshSpec, l.cfg.EvalContext(fb.dir)); at != nil {
			if d, ok := at.Duration("rollout_timeout"); ok {
				if d < time.Minute {
					at.Errorf("rollout_timeout", "Invalid rollout_timeout", "rollout_timeout must be at least 1m.")
				}
				m.RolloutTimeout = d
			}
			if s, ok := at.String("bind"); ok {
				checkHostPort(at, "bind", s)
				m.Bind = s
			}
			if s, ok := at.String("advertise"); ok {
				checkHostPort(at, "advertise", s)
				m.Advertise = s
			}
			if n, ok := at.Int("peer_port"); ok {
				if n < 1 || n > 65535 {
					at.Errorf("peer_port", "Invalid port", "peer_port must be between 1 and 65535, not %d.", n)
				}
				m.PeerPort = int(n)
			}
			m.Join, _ = at.StringList("join")
			m.RetryJoin, _ = at.StringList("retry_join")
			if d, ok := at.Duration("retry_interval"); ok {
				if d < 1e9 {
					at.Errorf("retry_interval", "Invalid retry_interval", "retry_interval must be at least 1s.")
				}
				m.RetryInterval = d
			}
			m.EncryptKeyFile, _ = at.String("encrypt_key_file")
			if t, ok := at.Nested("tls"); ok {
				m.TLS = &MeshTLS{}
				m.TLS.CAFile, _ = t.String("ca_file")
				m.TLS.CertFile, _ = t.String("cert_file")
				m.TLS.KeyFile, _ = t.String("key_file")
				for _, p := range []*string{&m.TLS.CAFile, &m.TLS.CertFile, &m.TLS.KeyFile} {
					*p = ResolvePath(fb.dir, *p)
				}
				at.Merge(t)
			}
			l.diags = append(l.diags, at.Diags...)
		}
		if m.PeerPort == 0 {
			if _, p, err := net.SplitHostPort(m.Bind); err == nil {
				if n, err := strconv.Atoi(p); err == nil && n < 65535 {
					m.PeerPort = n + 1
				}
			}
		}
		l.cfg.Mesh = m
	}
	api := &API{Listen: DefaultListen}
	if fb, ok := l.first("api"); ok {
		api.DeclRange = fb.block.DefRange
		if at := l.decodeBlock(fb, apiSpec, l.cfg.EvalContext(fb.dir)); at != nil {
			if s, ok := at.String("listen"); ok {
				checkHostPort(at, "listen", s)
				api.Listen = s
			}
			api.TokenFile, _ = at.String("token_file")
			api.ReadTokenFile, _ = at.String("read_token_file")
			if t, ok := at.Nested("tls"); ok {
				api.TLS = &TLS{}
				api.TLS.CertFile, _ = t.String("cert_file")
				api.TLS.KeyFile, _ = t.String("key_file")
				api.TLS.ClientCAFile, _ = t.String("client_ca_file")
				at.Merge(t)
			}
			if !at.IsUnknown("listen") && !isLoopback(api.Listen) && api.TokenFile == "" && !at.IsUnknown("token_file") {
				at.Errorf("listen", "API token required",
					"The API listens on %s, which is not a loopback address, so it needs token_file: without one anybody who can reach the port could read and reload this agent.", api.Listen)
			}
			l.diags = append(l.diags, at.Diags...)
		}
	}
	l.cfg.API = api
}

// rawBlocks keeps defaults, checks and sinks for the engine.
func (l *loader) rawBlocks() {
	raw := func(kind string, fb fileBlock) *RawBlock {
		b := fb.block
		rb := &RawBlock{Kind: kind, Body: b.Body, DefRange: b.DefRange, BaseDir: fb.dir}
		if len(b.Labels) == 2 {
			rb.Type, rb.Name = b.Labels[0], b.Labels[1]
			rb.TypeRange, rb.NameRange = b.LabelRanges[0], b.LabelRanges[1]
		}
		if len(b.Labels) == 1 { // maintenance "NAME"
			rb.Name, rb.NameRange = b.Labels[0], b.LabelRanges[0]
		}
		return rb
	}
	if fb, ok := l.first("defaults"); ok {
		l.cfg.Defaults = raw("defaults", fb)
	}
	for _, fb := range l.blocks["check"] {
		l.cfg.Checks = append(l.cfg.Checks, raw("check", fb))
	}
	for _, fb := range l.blocks["notifier"] {
		l.cfg.Notifiers = append(l.cfg.Notifiers, raw("notifier", fb))
	}
	for _, fb := range l.blocks["maintenance"] {
		l.cfg.Maintenance = append(l.cfg.Maintenance, raw("maintenance", fb))
	}
	for _, fb := range l.blocks["sink"] {
		l.cfg.Sinks = append(l.cfg.Sinks, raw("sink", fb))
	}
}

func (l *loader) first(typ string) (fileBlock, bool) {
	if bs := l.blocks[typ]; len(bs) > 0 {
		return bs[0], true
	}
	return fileBlock{dir: "."}, false
}

func checkHostPort(at *Attrs, name, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		at.Errorf(name, "Invalid address", "%s must be HOST:PORT, such as \"127.0.0.1:7575\": %s.", name, err)
		return
	}
	_ = host
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		at.Errorf(name, "Invalid address", "The port of %s must be a number from 0 to 65535, not %q.", name, port)
	}
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Suggest returns the candidate closest to given, or "" when none is near.
func Suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" && len(given) >= 3 {
		// A prefix of a longer name ("latency" for "latency_ms").
		for _, c := range sorted {
			if strings.HasPrefix(c, given) {
				return c
			}
		}
	}
	return best
}

func suggestIn(given string, candidates []string, format string) string {
	if s := Suggest(given, candidates); s != "" {
		return fmt.Sprintf(format, s)
	}
	return ""
}
