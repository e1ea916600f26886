// Package dsl reads satellite's HCL configuration: files, variables, locals,
// functions, the top-level schema and diagnostics. Check and sink bodies stay
// raw (hcl.Body) until engine.Compile decodes them with their type's spec.
package dsl

import (
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Config is a loaded configuration: the fixed blocks decoded, variables and
// locals evaluated, checks and sinks kept raw.
type Config struct {
	// Files are the parsed sources, by file name, for printing diagnostics.
	Files map[string]*hcl.File
	// Paths are the config files read, in order.
	Paths []string

	Variables []*Variable
	Agent     Agent
	Mesh      *Mesh
	API       *API
	// Defaults is the `defaults` block, nil when absent.
	Defaults *RawBlock
	Checks   []*RawBlock
	Sinks    []*RawBlock
	// Notifiers are the `notifier "TYPE" "NAME"` blocks.
	Notifiers []*RawBlock
	// Maintenance are the `maintenance "NAME"` blocks (Name set, Type "").
	Maintenance []*RawBlock

	// Node is the node this config is evaluated for.
	Node Node
	// Hash is the config hash: shared blocks and variable values only.
	Hash string
	// Limits are the limits the config was loaded with: the defaults, then
	// agent { limits {} }, then Options.Limits.
	Limits Limits

	vars    map[string]cty.Value
	locals  map[string]cty.Value
	secrets []string
	fe      *funcEnv
	base    *hcl.EvalContext
	logger  hclog.Logger
	budget  *budget
}

// RawBlock is a check, sink or defaults block whose body a registry decodes.
type RawBlock struct {
	// Kind is the block type: "check", "sink", "notifier", "maintenance" or
	// "defaults".
	Kind string
	// Type and Name are the labels, for checks and sinks; a maintenance
	// block has only Name.
	Type, Name string
	Body       hcl.Body
	// DefRange is the header's range, TypeRange and NameRange the labels'.
	DefRange, TypeRange, NameRange hcl.Range
	// BaseDir is the folder of the declaring file.
	BaseDir string
}

// Node is the node a config is evaluated for: `node.name` and `node.tags`.
type Node struct {
	// Name is unknown ("") when it comes from hostname() under --unknown-env.
	Name string
	Tags map[string]string
	// NameKnown is false under --unknown-env when the name depends on the machine.
	NameKnown bool
}

// Variable is a declared input.
type Variable struct {
	Name        string
	Type        cty.Type
	Default     cty.Value
	Description string
	Sensitive   bool
	DeclRange   hcl.Range
}

// Agent is the `agent` block with defaults filled in.
type Agent struct {
	Name             string
	DataDir          string
	Tags             map[string]string
	EnableExec       bool
	MaxConcurrent    int
	History          bool
	HistoryRetention time.Duration
	// DeclRange is the block's range, or empty when there is no agent block.
	DeclRange hcl.Range
	// TagsRange locates `tags`, for errors about them.
	TagsRange hcl.Range
}

// Mesh is the `mesh` block.
type Mesh struct {
	Bind           string
	Advertise      string
	PeerPort       int
	Join           []string
	RetryJoin      []string
	RetryInterval  time.Duration
	EncryptKeyFile string
	// TLS, when set, serves the peer endpoint over mutual TLS.
	TLS *MeshTLS
	// Notify is the `notify` attribute as written (notifier references,
	// resolved by the engine into Plan.MeshNotify); nil when unset.
	Notify *hcl.Attribute
	// RolloutTimeout is how long members may run different config hashes
	// before it is a cluster alert.
	RolloutTimeout time.Duration
	DeclRange      hcl.Range
}

// MeshTLS is the mesh block's `tls`: the peer endpoint's certificate and
// key, and the CA its peers' certificates must chain to. Paths are resolved
// against the declaring file's folder.
type MeshTLS struct {
	CAFile, CertFile, KeyFile string
}

// API is the `api` block with defaults filled in.
type API struct {
	Listen        string
	TokenFile     string
	ReadTokenFile string
	TLS           *TLS
	DeclRange     hcl.Range
}

// TLS is the `api.tls` block.
type TLS struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// Defaults of the fixed blocks.
const (
	DefaultDataDir          = "/var/lib/satellite"
	DefaultListen           = "127.0.0.1:7575"
	DefaultRolloutTimeout   = 30 * time.Minute
	DefaultMaxConcurrent    = 16
	DefaultHistoryRetention = 168 * time.Hour
	DefaultRetryInterval    = 30 * time.Second
	DefaultBind             = "0.0.0.0:7946"
)

// EvalContext returns the context in which check, sink and defaults bodies
// are evaluated: var, local, node and the functions, with file() relative to
// baseDir.
func (c *Config) EvalContext(baseDir string) *hcl.EvalContext {
	ctx := c.base.NewChild()
	ctx.Functions = map[string]function.Function{"file": c.fe.fileFunc(baseDir)}
	return ctx
}

// Logger returns the logger given in Options.Logger, or a null logger; it is
// never nil.
func (c *Config) Logger() hclog.Logger {
	if c.logger == nil {
		return hclog.NewNullLogger()
	}
	return c.logger
}

// Secrets returns the values to redact: sensitive variables' strings.
func (c *Config) Secrets() []string { return c.secrets }

// Redact replaces every secret value in s.
func (c *Config) Redact(s string) string {
	return Redact(s, c.secrets)
}

// Redact replaces each of secrets found in s with "(sensitive)".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "(sensitive)")
		}
	}
	return s
}

// VarValue returns a variable's final value.
func (c *Config) VarValue(name string) (cty.Value, bool) {
	v, ok := c.vars[name]
	return v, ok
}

// LocalNames returns the names of the locals, sorted.
func (c *Config) LocalNames() []string {
	out := make([]string, 0, len(c.locals))
	for k := range c.locals {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
