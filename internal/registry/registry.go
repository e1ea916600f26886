// Package registry is the registry of named types that check types and sink
// types register into from init(): a duplicate name is a programming error,
// found at start.
package registry

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps type names to registrations of one kind.
type Registry[T any] struct {
	kind string // "checks", "sinks": names the registry in panics
	mu   sync.RWMutex
	m    map[string]T
}

// New returns an empty registry; kind names it in panic messages.
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, m: map[string]T{}}
}

// Add registers r under name; it panics when the name is taken.
func (r *Registry[T]) Add(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("%s: type %q registered twice", r.kind, name))
	}
	r.m[name] = v
}

// Lookup returns the registration of name.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	return v, ok
}

// Names returns every registered name, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
