// Package sysctlcheck is the `sysctl` check type: kernel parameters under
// /proc/sys have the expected values.
package sysctlcheck

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// Type is the first label of `check "sysctl" "NAME"`.
const Type = "sysctl"

// Root is where the kernel's parameters live.
const Root = "/proc/sys"

// maxValue bounds what is read of one parameter; the longest real ones
// (dev.cdrom.info, kernel.sched_domain ...) are a few KiB.
const maxValue = 64 << 10

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"values": &hcldec.AttrSpec{Name: "values", Type: cty.Map(cty.String), Required: true},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"values": cty.Map(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:   Type,
		Spec:   Spec,
		Result: ResultAttrs,
		Build:  Build,
		Sample: sample,
		Doc:    "Kernel parameters (/proc/sys) have the expected values.",
	})
}

// Build validates a decoded `sysctl` body and returns its checker. It does
// no I/O: whether a parameter exists is found out when the check runs.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	v, ok := dsl.Required(a, "values", `the parameters and their expected values, such as values = { "net.ipv4.ip_forward" = "1" }`, a.Known)
	if !ok {
		return nil, a.Diags
	}
	if v.LengthInt() == 0 {
		a.Errorf("values", "Empty values", "values must name at least one parameter, such as values = { \"net.ipv4.ip_forward\" = \"1\" }.")
		return nil, a.Diags
	}

	// Keys are known even when some values are not (--unknown-env): check them.
	keys := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, _ := it.Element()
		keys = append(keys, k.AsString())
	}
	slices.Sort(keys)
	var keyRanges map[string]hcl.Range
	for _, k := range keys {
		if problem := checkKey(k); problem != "" {
			if keyRanges == nil {
				keyRanges = mapKeyRanges(env.Body, "values")
			}
			rng, ok := keyRanges[k]
			if !ok {
				rng = a.Range("values")
			}
			a.Diags = append(a.Diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid sysctl name",
				Detail:   fmt.Sprintf("%q %s.", k, problem),
				Subject:  rng.Ptr(),
			})
		}
	}
	if a.Diags.HasErrors() {
		return nil, a.Diags
	}
	values, ok := a.StringMap("values")
	if !ok {
		return nil, a.Diags // a value is unknown yet
	}
	c := &Checker{root: Root, params: make([]param, 0, len(keys))}
	for _, k := range keys {
		c.params = append(c.params, param{name: k, path: keyPath(k), want: normalize(values[k])})
	}
	return c, a.Diags
}

// checkKey says what is wrong with a sysctl name written with dots, or "".
// Within a part, "/" stands for a dot of the file name, as in sysctl(8):
// net.ipv4.conf.eth0/100.rp_filter is /proc/sys/net/ipv4/conf/eth0.100/rp_filter.
func checkKey(k string) string {
	if !strings.Contains(k, ".") {
		if strings.Contains(k, "/") {
			return fmt.Sprintf("is written with slashes; write it with dots, as %q", strings.ReplaceAll(strings.Trim(k, "/"), "/", "."))
		}
		return "is not a sysctl name: write it with dots, such as \"net.ipv4.ip_forward\""
	}
	for part := range strings.SplitSeq(k, ".") {
		switch file := strings.ReplaceAll(part, "/", "."); {
		case part == "":
			return "has an empty part; write it with single dots between the parts, such as \"net.ipv4.ip_forward\""
		case file == "." || file == "..":
			return fmt.Sprintf("has the part %q, which would leave /proc/sys", part)
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-/@+:", r)) {
				return fmt.Sprintf("contains %q; sysctl names hold letters, digits and _-/@+: between the dots", r)
			}
		}
	}
	return ""
}

// keyPath turns a dotted name into its path under /proc/sys.
func keyPath(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "/", ".")
	}
	return filepath.Join(parts...)
}

// mapKeyRanges finds the source range of each key of a map attribute written
// as an object constructor, so that a diagnostic can point at the one bad
// key. It reads the parsed body only.
func mapKeyRanges(body hcl.Body, name string) map[string]hcl.Range {
	out := map[string]hcl.Range{}
	if body == nil {
		return out
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	attr, ok := content.Attributes[name]
	if !ok {
		return out
	}
	obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return out
	}
	for _, item := range obj.Items {
		k, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() || !k.IsKnown() || k.IsNull() || k.Type() != cty.String {
			continue
		}
		out[k.AsString()] = item.KeyExpr.Range()
	}
	return out
}

// normalize makes whitespace runs one space: the kernel separates the parts
// of multi-value parameters with tabs (kernel.printk is "4\t4\t1\t7").
func normalize(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// param is one parameter to compare.
type param struct {
	name string // as written, for messages: net.ipv4.ip_forward
	path string // under the root: net/ipv4/ip_forward
	want string // normalized
}

// Checker reads its parameters once per run. It is safe for concurrent use.
type Checker struct {
	root   string // Root; tests point it at a fake tree
	params []param
}

// Check reads every parameter and lists every one that differs or cannot be read.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	read := make(map[string]cty.Value, len(c.params))
	var problems []string
	for _, p := range c.params {
		if ctx.Err() != nil {
			return checks.Result{Status: checks.StatusCritical, Error: ctxError(ctx, "read "+p.name, start)}
		}
		got, err := readValue(filepath.Join(c.root, p.path))
		if err != nil {
			problems = append(problems, describe(p.name, err))
			continue
		}
		read[p.name] = cty.StringVal(got)
		if got != p.want {
			problems = append(problems, fmt.Sprintf("%s is %s, expected %s", p.name, show(got), show(p.want)))
		}
	}
	res := checks.Result{Attrs: map[string]cty.Value{"values": cty.MapValEmpty(cty.String)}}
	if len(read) > 0 {
		res.Attrs["values"] = cty.MapVal(read)
	}
	if len(problems) > 0 {
		res.Status, res.Error = checks.StatusCritical, strings.Join(problems, "; ")
	}
	return res
}

// readValue reads one parameter, whitespace-normalized.
func readValue(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var buf [512]byte
	n, err := io.ReadFull(f, buf[:])
	switch {
	case err == nil: // more than 512 bytes: read the rest
		rest, err := io.ReadAll(io.LimitReader(f, maxValue))
		if err != nil {
			return "", err
		}
		if n+len(rest) > maxValue {
			return "", errTooLong
		}
		return normalize(string(buf[:n]) + string(rest)), nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return normalize(string(buf[:n])), nil
	default:
		return "", err
	}
}

var errTooLong = fmt.Errorf("longer than %d KiB", maxValue>>10)

// describe words why a parameter could not be read.
func describe(name string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return name + " does not exist"
	case errors.Is(err, syscall.EISDIR):
		return name + " is a group of parameters, not one parameter"
	case errors.Is(err, errTooLong):
		return name + " is " + err.Error() + ", too long for a parameter"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("%s cannot be read: %v", name, err)
}

// show quotes a value when it is empty or has spaces, so that the message
// stays readable: "kernel.printk is "4 4 1 7", expected "3 4 1 7"".
func show(v string) string {
	if v == "" || strings.Contains(v, " ") {
		return strconv.Quote(v)
	}
	return v
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}
