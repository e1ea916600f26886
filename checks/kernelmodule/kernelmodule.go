// Package kernelmodulecheck is the `kernel_module` check type: kernel modules
// are loaded (or built into the kernel).
package kernelmodulecheck

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "kernel_module" "NAME"`.
const Type = "kernel_module"

// Where the kernel lists its modules.
const (
	// ProcModules lists the loadable modules that are loaded. A kernel built
	// without module support (CONFIG_MODULES=n) has no such file.
	ProcModules = "/proc/modules"
	// SysModule has a directory per loaded module, and per built-in module
	// that has parameters or a version.
	SysModule = "/sys/module"
)

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"modules": &hcldec.AttrSpec{Name: "modules", Type: cty.List(cty.String), Required: true},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"missing": cty.List(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:   Type,
		Spec:   Spec,
		Result: ResultAttrs,
		Build:  Build,
		Sample: sample,
		Doc:    "Kernel modules are loaded or built in.",
	})
}

// Build validates a decoded `kernel_module` body and returns its checker. It
// does no I/O.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	v, ok := dsl.Required(a, "modules", `the modules that must be loaded, such as modules = ["overlay", "br_netfilter"]`, a.Known)
	if !ok {
		return nil, a.Diags
	}
	if v.LengthInt() == 0 {
		a.Errorf("modules", "Empty modules", "modules must name at least one module, such as modules = [\"overlay\", \"br_netfilter\"].")
		return nil, a.Diags
	}

	var ranges []hcl.Range // of each element, when written as a list in the source
	rangeOf := func(i int) *hcl.Range {
		if ranges == nil {
			ranges = elementRanges(env.Body, "modules")
		}
		if i < len(ranges) {
			return ranges[i].Ptr()
		}
		return a.Range("modules").Ptr()
	}
	c := &Checker{procModules: ProcModules, sysModule: SysModule}
	seen := map[string]string{}
	complete := true
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		if !e.IsKnown() {
			complete = false
			continue
		}
		if e.IsNull() {
			a.Diags = append(a.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid module name", Detail: "modules must not contain null.", Subject: rangeOf(i)})
			continue
		}
		name := e.AsString()
		if problem := checkName(name); problem != "" {
			a.Diags = append(a.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid module name", Detail: fmt.Sprintf("%q %s.", name, problem), Subject: rangeOf(i)})
			continue
		}
		norm := normalize(name)
		if first, dup := seen[norm]; dup {
			a.Diags = append(a.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Duplicate module", Detail: fmt.Sprintf("%q is the same module as %q (\"-\" and \"_\" are the same in module names); it is checked once.", name, first), Subject: rangeOf(i)})
			continue
		}
		seen[norm] = name
		c.modules = append(c.modules, module{name: name, norm: norm})
	}
	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// checkName says what is wrong with a module name, or "".
func checkName(name string) string {
	if name == "" {
		return "is empty; a module name is like \"br_netfilter\""
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("contains %q; module names hold letters, digits, \"_\" and \"-\"", r)
		}
	}
	return ""
}

// normalize makes "-" and "_" the same, as the kernel does: it stores and
// lists module names with "_".
func normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// elementRanges finds the source range of each element of a list attribute
// written as a tuple constructor. It reads the parsed body only.
func elementRanges(body hcl.Body, name string) []hcl.Range {
	if body == nil {
		return []hcl.Range{}
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	attr, ok := content.Attributes[name]
	if !ok {
		return []hcl.Range{}
	}
	tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return []hcl.Range{}
	}
	out := make([]hcl.Range, len(tuple.Exprs))
	for i, e := range tuple.Exprs {
		out[i] = e.Range()
	}
	return out
}

// module is one module to look for.
type module struct {
	name string // as written, for messages and result.missing
	norm string // with "_" only, as the kernel lists it
}

// Checker looks for its modules once per run. It is safe for concurrent use.
type Checker struct {
	procModules, sysModule string // the package's paths; tests point them at fakes
	modules                []module
}

// Check reads /proc/modules when there is one, then looks in /sys/module for
// the modules not listed there: built-in modules appear only in /sys/module.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	fail := func(msg string) checks.Result {
		return checks.Result{Status: checks.StatusCritical, Error: msg}
	}
	if ctx.Err() != nil {
		return fail(ctxError(ctx, "look for kernel modules", start))
	}
	found := make([]bool, len(c.modules))
	hasProc, err := c.readProcModules(found)
	if err != nil {
		return fail(err.Error())
	}

	var missing []cty.Value
	var names []string
	hasSys := true
	for i, m := range c.modules {
		if found[i] {
			continue
		}
		if ctx.Err() != nil {
			return fail(ctxError(ctx, "look for kernel modules", start))
		}
		fi, err := os.Stat(filepath.Join(c.sysModule, m.norm))
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil, errors.Is(err, fs.ErrNotExist):
		default:
			return fail(fmt.Sprintf("look for module %s: %v", m.name, err))
		}
		missing = append(missing, cty.StringVal(m.name))
		names = append(names, m.name)
		if hasSys {
			if _, err := os.Stat(c.sysModule); errors.Is(err, fs.ErrNotExist) {
				hasSys = false
			}
		}
	}
	if !hasProc && !hasSys {
		return fail(fmt.Sprintf("cannot tell which kernel modules are loaded: neither %s nor %s exists", c.procModules, c.sysModule))
	}

	res := checks.Result{Attrs: map[string]cty.Value{"missing": cty.ListValEmpty(cty.String)}}
	if len(missing) > 0 {
		res.Attrs["missing"] = cty.ListVal(missing)
		res.Status, res.Error = checks.StatusCritical, "not loaded: "+strings.Join(names, ", ")
	}
	return res
}

// readProcModules marks the modules /proc/modules lists. It reports false,
// and no error, when the file does not exist.
func (c *Checker) readProcModules(found []bool) (bool, error) {
	data, err := checks.ReadFileLimited(c.procModules, maxProcModules, "the kernel's module list")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, syscall.EISDIR):
		return false, fmt.Errorf("%s is a directory, not the kernel's module list", c.procModules)
	case err != nil:
		return false, err
	}
	// Each line: name size refcount dependencies state address [taint].
	n := 0
	for line := range bytes.Lines(data) {
		n++
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 3 || checkName(string(f[0])) != "" {
			return false, fmt.Errorf("%s: line %d is not a module line: %s", c.procModules, n, quote(line))
		}
		if _, err := strconv.ParseUint(string(f[1]), 10, 64); err != nil {
			return false, fmt.Errorf("%s: line %d is not a module line: %s", c.procModules, n, quote(line))
		}
		name := normalize(string(f[0]))
		for i, m := range c.modules {
			if m.norm == name {
				found[i] = true
			}
		}
	}
	return true, nil
}

// maxProcModules bounds what is read of /proc/modules: a line is under 200
// bytes, and a kernel loads a few hundred modules at most.
const maxProcModules = 1 << 20

// quote shortens and quotes file content for an error.
func quote(b []byte) string {
	if len(b) > 80 {
		return strconv.Quote(string(b[:80])) + "..."
	}
	return strconv.Quote(string(b))
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}
