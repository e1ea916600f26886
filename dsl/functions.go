package dsl

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// funcEnv is what the satellite functions read from the outside world.
type funcEnv struct {
	lookupEnv  func(string) (string, bool)
	hostname   func() (string, error)
	readFile   func(string) ([]byte, error)
	unknownEnv bool
	// budget bounds every call; base caches the wrapped functions but file.
	budget *budget
	base   map[string]function.Function
	// files caches file() by folder: every check instance's context has one.
	files map[string]function.Function
}

// maxFileFunc bounds what file() reads, so a config pointing at a huge file
// fails clearly instead of eating memory.
const maxFileFunc = 4 << 20

// Functions returns the functions available in expressions. baseDir is the
// folder of the file being evaluated: file() paths are relative to it.
func (fe *funcEnv) functions(baseDir string) map[string]function.Function {
	if fe.base == nil {
		fe.base = fe.wrapped()
	}
	fns := make(map[string]function.Function, len(fe.base)+1)
	for k, f := range fe.base {
		fns[k] = f
	}
	fns["file"] = fe.fileFunc(baseDir)
	return fns
}

// wrapped returns every function but file(), each bounded by the budget,
// with the instrumentation's own functions.
func (fe *funcEnv) wrapped() map[string]function.Function {
	fns := fe.rawFunctions()
	if fe.budget == nil {
		return fns
	}
	for name, f := range fns {
		switch name {
		case "try", "can":
			// Their arguments are expressions, evaluated by the function's
			// type check; what they evaluate is bounded where it is.
			continue
		}
		switch name {
		case "tostring", "tonumber", "tobool", "tolist", "toset", "tomap",
			"setunion", "setintersection", "setsubtract", "distinct":
			fns[name] = fe.budget.wrapFuncMeasuring(f, nil, true)
		default:
			fns[name] = fe.budget.wrapFunc(f, fe.budget.precheck(name))
		}
	}
	for name, f := range fe.budget.instrumentFuncs() {
		fns[name] = f
	}
	return fns
}

func (fe *funcEnv) rawFunctions() map[string]function.Function {
	fns := map[string]function.Function{
		"abs":             stdlib.AbsoluteFunc,
		"ceil":            stdlib.CeilFunc,
		"chomp":           stdlib.ChompFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"csvdecode":       stdlib.CSVDecodeFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"floor":           stdlib.FloorFunc,
		"format":          stdlib.FormatFunc,
		"formatdate":      stdlib.FormatDateFunc,
		"formatlist":      stdlib.FormatListFunc,
		"indent":          stdlib.IndentFunc,
		"index":           stdlib.IndexFunc,
		"int":             stdlib.IntFunc,
		"join":            stdlib.JoinFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"length":          lengthFunc,
		"log":             stdlib.LogFunc,
		"lookup":          stdlib.LookupFunc,
		"lower":           stdlib.LowerFunc,
		"max":             stdlib.MaxFunc,
		"merge":           stdlib.MergeFunc,
		"min":             stdlib.MinFunc,
		"parseint":        stdlib.ParseIntFunc,
		"pow":             stdlib.PowFunc,
		"range":           stdlib.RangeFunc,
		"regex":           stdlib.RegexFunc,
		"regexall":        stdlib.RegexAllFunc,
		"regex_replace":   stdlib.RegexReplaceFunc,
		"replace":         stdlib.ReplaceFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"signum":          stdlib.SignumFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"split":           stdlib.SplitFunc,
		"strrev":          stdlib.ReverseFunc,
		"substr":          stdlib.SubstrFunc,
		"timeadd":         stdlib.TimeAddFunc,
		"title":           stdlib.TitleFunc,
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"upper":           stdlib.UpperFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,
		"tostring":        makeToFunc(cty.String),
		"tonumber":        makeToFunc(cty.Number),
		"tobool":          makeToFunc(cty.Bool),
		"tolist":          makeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset":           makeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap":           makeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try":             tryfunc.TryFunc,
		"can":             tryfunc.CanFunc,
		"duration":        durationFunc,
		"env":             fe.envFunc(),
		"hostname":        fe.hostnameFunc(),
	}
	return fns
}

// makeToFunc converts its argument to a type, as Terraform's tostring & co.
func makeToFunc(want cty.Type) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true}},
		Type: func(args []cty.Value) (cty.Type, error) {
			if want.IsPrimitiveType() {
				return want, nil
			}
			// Collections: the element type is decided by the conversion.
			return cty.DynamicPseudoType, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return convert.Convert(args[0], concreteTarget(args[0], want))
		},
	})
}

// concreteTarget gives a conversion to a collection of any element type a
// concrete element type when every element of v has the same one: cty then
// converts element by element, where it would otherwise unify the element
// types, which takes time quadratic in the number of elements (toset of
// 100,000 strings took minutes).
func concreteTarget(v cty.Value, want cty.Type) cty.Type {
	if !want.IsCollectionType() || want.ElementType() != cty.DynamicPseudoType {
		return want
	}
	ty := v.Type()
	var elem cty.Type
	switch {
	case ty.IsTupleType():
		types := ty.TupleElementTypes()
		if len(types) == 0 {
			return want
		}
		elem = types[0]
		for _, t := range types[1:] {
			if !t.Equals(elem) {
				return want
			}
		}
	case ty.IsObjectType():
		first := true
		for _, t := range ty.AttributeTypes() {
			if first {
				elem, first = t, false
			} else if !t.Equals(elem) {
				return want
			}
		}
		if first {
			return want
		}
	case ty.IsCollectionType():
		elem = ty.ElementType()
	default:
		return want
	}
	if elem == cty.DynamicPseudoType || !elem.IsPrimitiveType() {
		// Nested element types may still need unifying among themselves.
		return want
	}
	seq := ty.IsTupleType() || ty.IsListType() || ty.IsSetType()
	switch {
	case want.IsSetType() && seq:
		return cty.Set(elem)
	case want.IsListType() && seq:
		return cty.List(elem)
	case want.IsMapType() && (ty.IsObjectType() || ty.IsMapType()):
		return cty.Map(elem)
	}
	return want
}

// lengthFunc is length() for collections and, as in Terraform, strings.
var lengthFunc = function.New(&function.Spec{
	Description: "The number of elements of a collection, or of characters of a string.",
	Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true, AllowMarked: true}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

var durationFunc = function.New(&function.Spec{
	Description: "Parses a duration such as \"1m30s\" into a number of seconds.",
	Params:      []function.Parameter{{Name: "duration", Type: cty.String}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		d, err := time.ParseDuration(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "%q is not a duration; write it like \"30s\", \"5m\" or \"1h30m\"", args[0].AsString())
		}
		return cty.NumberFloatVal(d.Seconds()), nil
	},
})

func (fe *funcEnv) envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Reads an environment variable, with an optional default.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, fmt.Errorf("env takes a name and at most one default, got %d arguments", len(args))
			}
			if fe.unknownEnv {
				return cty.UnknownVal(cty.String), nil
			}
			name := args[0].AsString()
			if v, ok := fe.lookupEnv(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0, "environment variable %q is not set and no default was given; set it on the node, give a default as env(%q, \"...\"), or validate with --unknown-env", name, name)
		},
	})
}

func (fe *funcEnv) hostnameFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns this machine's host name.",
		Type:        function.StaticReturnType(cty.String),
		Impl: func(_ []cty.Value, _ cty.Type) (cty.Value, error) {
			if fe.unknownEnv {
				return cty.UnknownVal(cty.String), nil
			}
			h, err := fe.hostname()
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(h), nil
		},
	})
}

func (fe *funcEnv) fileFunc(baseDir string) function.Function {
	if f, ok := fe.files[baseDir]; ok {
		return f
	}
	f := fe.rawFileFunc(baseDir)
	if fe.budget != nil {
		f = fe.budget.wrapFunc(f, nil)
	}
	if fe.files == nil {
		fe.files = map[string]function.Function{}
	}
	fe.files[baseDir] = f
	return f
}

func (fe *funcEnv) rawFileFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "Reads a file, relative to the folder of the config file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if fe.unknownEnv {
				return cty.UnknownVal(cty.String), nil
			}
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			b, err := fe.readFile(p)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "%s", err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// readFileLimited reads what file() reads: a regular file of at most
// maxFileFunc bytes, within readTimeout (see readRegular).
func readFileLimited(p string) ([]byte, error) {
	return readRegular(p, maxFileFunc, "file()")
}
