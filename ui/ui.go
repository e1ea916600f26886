// Package ui is the web dashboard every agent serves at /ui/: a single page
// of plain ES modules (no build step) that reads the agent's own API (the
// status document, the history, the checks, the silences and the events
// stream) from the same origin. Every asset is embedded in the binary.
//
// The page is static: it holds no data and needs no token to load, so the
// API can mount Handler in front of its auth; the page asks for a token
// itself when /v1/session answers 401, and sends it on every API request.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Prefix is the path the API mounts Handler at. Handler is given the full
// request path and strips it itself.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every answer. The page has no inline
// script or style, loads nothing from another origin, and talks to its own
// API only.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// assets maps a path below Prefix ("index.html", "js/app.js") to its file.
// It is built once, on the first request (not at init: a command that
// serves no page should not hash them): the files never change while the
// agent runs.
var assets = sync.OnceValue(mustLoad)

func mustLoad() map[string]*asset {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	m := map[string]*asset{}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		m[name] = &asset{
			name:  name,
			body:  body,
			ctype: contentType(name),
			etag:  `"` + hex.EncodeToString(sum[:16]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return m
}

// contentType is the type of an asset by its name. The table is fixed, not
// the system's mime.types, so that the answer does not depend on the host:
// module scripts must be served as JavaScript or the browser refuses them.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".md", ".txt", "":
		// LICENSE, VENDOR.md: shown as text, never rendered.
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// Files lists the embedded assets' paths below Prefix, for tests and tools.
func Files() []string {
	names := make([]string, 0, len(assets()))
	for name := range assets() {
		names = append(names, name)
	}
	return names
}

// Handler serves the dashboard: Prefix alone is index.html, Prefix+NAME the
// asset NAME. Only GET and HEAD are answered (405 otherwise); an unknown
// name, a directory or a path outside Prefix is 404. Every answer has the
// security headers; assets are sent with Cache-Control: no-cache and an
// ETag (a hash of the content), so a browser revalidates and gets 304 until
// the agent is upgraded.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	if name == "" {
		name = "index.html"
	}
	a := assets()[name]
	if a == nil || !fs.ValidPath(name) {
		fail(w, http.StatusNotFound, "not found")
		return
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304 (weak comparison, as
	// RFC 9110 says), HEAD without a body, and Range requests. The zero
	// time leaves Last-Modified out: the ETag is the validator.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// fail answers an error as the API does: a JSON object with one field.
func fail(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"error":"` + msg + `"}` + "\n"))
}
