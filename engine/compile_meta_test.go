package engine

import "testing"

// Every meta-argument is complete, and the schemas are drawn from the table:
// adding one to checkMetaArgs is all it takes to make checks (and, when it
// says so, defaults) accept it, and its setting part of the fingerprint.
func TestCheckMetaArgsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range checkMetaArgs {
		if m.name == "" || m.decode == nil || m.fingerprint == nil {
			t.Errorf("meta-argument %q needs a name, a decode and a fingerprint", m.name)
		}
		if seen[m.name] {
			t.Errorf("meta-argument %q twice", m.name)
		}
		seen[m.name] = true
	}
	inSchema := func(s []string, name string) bool {
		for _, n := range s {
			if n == name {
				return true
			}
		}
		return false
	}
	var checkNames, defaultsNames []string
	for _, a := range metaSchema.Attributes {
		checkNames = append(checkNames, a.Name)
	}
	for _, a := range defaultsSchema.Attributes {
		defaultsNames = append(defaultsNames, a.Name)
	}
	for _, m := range checkMetaArgs {
		if !inSchema(checkNames, m.name) {
			t.Errorf("%s is not in the check schema", m.name)
		}
		if inSchema(defaultsNames, m.name) != m.defaults {
			t.Errorf("%s: in the defaults schema %v, defaults %v", m.name, inSchema(defaultsNames, m.name), m.defaults)
		}
	}
	if len(checkNames) != len(checkMetaArgs)+1 || !inSchema(checkNames, "for_each") {
		t.Errorf("the check schema should be the table plus for_each: %v", checkNames)
	}
	if len(defaultsNames) != len(metaArgNames(true)) {
		t.Errorf("defaults schema %v", defaultsNames)
	}
}
