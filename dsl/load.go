package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// Options say where variable values come from and how the outside world is seen.
type Options struct {
	// VarFiles are --var-file paths, in order.
	VarFiles []string
	// Vars are --var NAME=VALUE arguments, in order.
	Vars []string
	// LookupEnv reads the environment (SATELLITE_VAR_*, env()); default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Hostname returns the host name; default os.Hostname.
	Hostname func() (string, error)
	// UnknownEnv makes env(), file() and hostname() unknown values (validate in CI).
	UnknownEnv bool
	// NodeTags, when not nil, replace agent.tags as node.tags (validate --tags).
	NodeTags map[string]string
	// Logger is the agent's logger, kept on the loaded Config for what is
	// built from it (each check gets a sub-logger); nil means a null logger.
	Logger hclog.Logger
	// Limits override agent { limits {} }, by name (validate --limit).
	Limits map[string]int64
}

// VarEnvPrefix prefixes environment variables that set config variables.
const VarEnvPrefix = "SATELLITE_VAR_"

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "agent"},
		{Type: "mesh"},
		{Type: "api"},
		{Type: "defaults"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "check", LabelNames: []string{"type", "name"}},
		{Type: "sink", LabelNames: []string{"type", "name"}},
		{Type: "notifier", LabelNames: []string{"type", "name"}},
		{Type: "maintenance", LabelNames: []string{"name"}},
	},
}

// singletons are blocks that may appear at most once in the whole config.
var singletons = map[string]bool{"agent": true, "mesh": true, "api": true, "defaults": true}

type loader struct {
	opts Options
	// sources are the parsed files by name, for diagnostics.
	sources map[string]*hcl.File
	cfg     *Config
	diags   hcl.Diagnostics
	// blocks by type, in file order, with the file's folder.
	blocks map[string][]fileBlock
	// hashParts are the files' parts of the config hash, in file order.
	hashParts [][]string
	// syntaxErrors stops the load after parsing.
	syntaxErrors bool
	// budget bounds the evaluation; depths are the files' nesting depths,
	// measured before parsing and judged once the limits are read.
	budget *budget
	depths []depthInfo
	// sensitiveRanges are where sensitive values are written, masked in
	// the sources kept for printing diagnostics.
	sensitiveRanges []hcl.Range
	// sensitive are the sensitive variables, by name; litCtx is literalCtx.
	sensitive map[string]bool
	litCtx    *hcl.EvalContext
	valCtx    *hcl.EvalContext
}

type fileBlock struct {
	block *hcl.Block
	dir   string
	// badLabels are the indexes of the labels that are not valid names.
	badLabels []int
}

// Load reads the config at paths (files or directories) and evaluates it up
// to the locals. Diagnostics carry source ranges; use cfg.Files to print them.
// The returned Config is nil only when nothing could be read.
func Load(paths []string, opts Options) (*Config, hcl.Diagnostics) {
	l := newLoader(opts)
	files, autoVars := l.discover(paths)
	// Parsing is most of a load and files are independent: parse them in
	// parallel, with what addFile does that depends on the file alone
	// (prepare), then take them in order.
	results := make([]parsedFile, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				src, err := readRegular(files[i], maxConfigFile, "a config file")
				if err != nil {
					results[i].diags = hcl.Diagnostics{errDiag("Cannot read config file", err.Error(), nil)}
					continue
				}
				results[i] = prepare(parseFile(files[i], src))
			}
		}()
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	for i := range results {
		l.addFile(files[i], &results[i])
	}
	return l.finish(autoVars)
}

func newLoader(opts Options) *loader {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.Hostname == nil {
		opts.Hostname = os.Hostname
	}
	l := &loader{
		opts:    opts,
		sources: map[string]*hcl.File{},
		blocks:  map[string][]fileBlock{},
		budget:  newBudget(),
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	l.cfg = &Config{
		vars:   map[string]cty.Value{},
		locals: map[string]cty.Value{},
		logger: opts.Logger,
		fe: &funcEnv{
			lookupEnv:  opts.LookupEnv,
			hostname:   opts.Hostname,
			readFile:   readFileLimited,
			unknownEnv: opts.UnknownEnv,
			budget:     l.budget,
		},
		budget: l.budget,
	}
	l.cfg.base = &hcl.EvalContext{Functions: l.cfg.fe.functions(".")}
	return l
}

func (l *loader) finish(autoVars []string) (*Config, hcl.Diagnostics) {
	l.cfg.Files = l.sources
	l.cfg.Limits = DefaultLimits
	if l.syntaxErrors {
		// Syntax errors: evaluating a half-parsed config only adds noise.
		return l.cfg, l.diags
	}
	l.collect()
	l.readLimits()
	if l.checkDepths() {
		return l.cfg, l.diags
	}
	l.variables(autoVars)
	l.agent()
	l.node()
	l.locals()
	l.fixedBlocks()
	l.rawBlocks()
	l.cfg.Hash = configHash(l.hashParts, l.cfg)
	l.maskSensitiveSources()
	l.diags = l.cfg.LimitDiagnostics(l.diags)
	return l.cfg, l.diags
}

// LoadSource loads one in-memory file (HCL, or JSON when the name ends in
// .json), for tests and fuzzing. file() paths are relative to the name's folder.
func LoadSource(filename string, src []byte, opts Options) (*Config, hcl.Diagnostics) {
	l := newLoader(opts)
	pf := prepare(parseFile(filename, src))
	l.addFile(filename, &pf)
	return l.finish(nil)
}

func errDiag(summary, detail string, subject *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject}
}

func warnDiag(summary, detail string, subject *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: subject}
}

// IsConfigFile reports whether a file in a config directory is part of the config.
func IsConfigFile(name string) bool {
	if strings.HasSuffix(name, ".vars.hcl") || strings.HasSuffix(name, ".vars.hcl.json") {
		return false
	}
	return strings.HasSuffix(name, ".hcl") || strings.HasSuffix(name, ".hcl.json")
}

func isAutoVars(name string) bool {
	return strings.HasSuffix(name, ".auto.vars.hcl") || strings.HasSuffix(name, ".auto.vars.hcl.json")
}

// discover expands paths into config files and auto var files, each list in
// lexical order per directory, without duplicates.
func (l *loader) discover(paths []string) (files, autoVars []string) {
	seen := map[string]bool{}
	add := func(list *[]string, p string) {
		if abs, err := filepath.Abs(p); err == nil && !seen[abs] {
			seen[abs] = true
			*list = append(*list, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			l.diags = append(l.diags, errDiag("Config path not found",
				fmt.Sprintf("Cannot read %s: %s.", p, unwrapPathErr(err)), nil))
			continue
		}
		if !st.IsDir() {
			add(&files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			l.diags = append(l.diags, errDiag("Cannot read config directory", err.Error(), nil))
			continue
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		n := 0
		for _, name := range names {
			switch {
			case isAutoVars(name):
				add(&autoVars, filepath.Join(p, name))
			case IsConfigFile(name):
				add(&files, filepath.Join(p, name))
				n++
			}
		}
		if n == 0 {
			l.diags = append(l.diags, warnDiag("No config files",
				fmt.Sprintf("The directory %s holds no *.hcl or *.hcl.json files.", p), nil))
		}
	}
	return files, autoVars
}

func unwrapPathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseFile parses HCL, or JSON when the name ends in .json, after
// measuring its nesting depth: a file nested deeper than MaxDepthCeiling is
// not parsed at all (the parser's recursion could overflow the stack), one
// deeper than the configured max_depth is refused once the limits are read.
func parseFile(path string, src []byte) (*hcl.File, hcl.Diagnostics, depthInfo) {
	if strings.HasSuffix(path, ".json") {
		d := jsonDepth(src, path, MaxDepthCeiling, true)
		if d.max > MaxDepthCeiling {
			return nil, hcl.Diagnostics{depthDiag(d.first[MaxDepthCeiling], MaxDepthCeiling)}, d
		}
		if diags := d.jsonTemplateDiags(); diags.HasErrors() {
			f, _ := hcljson.Parse(src, path)
			return f, diags, d
		}
		f, diags := hcljson.Parse(src, path)
		return f, diags, d
	}
	d := measureHCL(src, path, MaxDepthCeiling)
	if d.max > MaxDepthCeiling {
		return nil, hcl.Diagnostics{depthDiag(d.first[MaxDepthCeiling], MaxDepthCeiling)}, d
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	return f, diags, d
}

// parsedFile is a parsed file with what addFile needs of it that depends on
// that file alone: its expressions instrumented (not yet numbered), its
// top-level content, its part of the config hash and its invalid labels.
type parsedFile struct {
	f     *hcl.File
	diags hcl.Diagnostics
	depth depthInfo
	// ins holds the instrumented evaluations, for budget.adopt; nil when
	// the file was not instrumented (syntax errors, JSON).
	ins          *instrumenter
	content      *hcl.BodyContent
	contentDiags hcl.Diagnostics
	hash         []string
	// badLabels are, for each of content.Blocks, fileBlock.badLabels; nil
	// when every label is valid.
	badLabels [][]int
}

// prepare does the part of addFile that depends on the parsed file alone
// (and changes nothing else), so that Load's workers do it in parallel.
func prepare(f *hcl.File, diags hcl.Diagnostics, depth depthInfo) parsedFile {
	pf := parsedFile{f: f, diags: diags, depth: depth}
	if f == nil || f.Body == nil {
		return pf
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok && !diags.HasErrors() {
		pf.ins = &instrumenter{}
		pf.ins.body(body, false)
	}
	pf.content, pf.contentDiags = f.Body.Content(rootSchema)
	for i, b := range pf.content.Blocks {
		for j, lbl := range b.Labels {
			if !hclsyntax.ValidIdentifier(lbl) {
				if pf.badLabels == nil {
					pf.badLabels = make([][]int, len(pf.content.Blocks))
				}
				pf.badLabels[i] = append(pf.badLabels[i], j)
			}
		}
	}
	pf.hash = hashParts(f)
	return pf
}

// addFile records a prepared file, numbers its instrumented evaluations
// and sorts its top-level blocks by type.
func (l *loader) addFile(path string, pf *parsedFile) {
	l.diags = append(l.diags, pf.diags...)
	if pf.diags.HasErrors() {
		l.syntaxErrors = true
	}
	f := pf.f
	if f == nil || f.Body == nil {
		return
	}
	l.depths = append(l.depths, pf.depth)
	if pf.ins != nil {
		l.budget.adopt(pf.ins)
	}
	l.sources[path] = f
	l.hashParts = append(l.hashParts, pf.hash)
	l.cfg.Paths = append(l.cfg.Paths, path)
	l.diags = append(l.diags, pf.contentDiags...)
	dir := filepath.Dir(path)
	for i, b := range pf.content.Blocks {
		fb := fileBlock{block: b, dir: dir}
		if pf.badLabels != nil {
			fb.badLabels = pf.badLabels[i]
		}
		l.blocks[b.Type] = append(l.blocks[b.Type], fb)
	}
}

// collect reports duplicate singleton blocks and invalid labels.
func (l *loader) collect() {
	for typ := range singletons {
		bs := l.blocks[typ]
		for _, b := range bs[min(1, len(bs)):] {
			first := bs[0].block.DefRange
			l.diags = append(l.diags, errDiag("Duplicate "+typ+" block",
				fmt.Sprintf("Only one %s block is allowed in the whole config; the first one is at %s.", typ, rangeString(first)),
				b.block.DefRange.Ptr()))
		}
	}
	for _, typ := range []string{"variable", "check", "sink", "notifier", "maintenance"} {
		for _, fb := range l.blocks[typ] {
			for _, i := range fb.badLabels {
				l.diags = append(l.diags, errDiag("Invalid name",
					fmt.Sprintf("%q is not a valid name: names start with a letter and contain only letters, digits, underscores and dashes.", fb.block.Labels[i]),
					fb.block.LabelRanges[i].Ptr()))
			}
		}
	}
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
