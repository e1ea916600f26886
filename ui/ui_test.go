package ui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func do(t *testing.T, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func content(t *testing.T, name string) string {
	t.Helper()
	a := assets()[name]
	if a == nil {
		t.Fatalf("no embedded asset %s; have %v", name, sortedFiles())
	}
	return string(a.body)
}

func sortedFiles() []string {
	f := Files()
	sort.Strings(f)
	return f
}

func TestIndex(t *testing.T) {
	rec := do(t, http.MethodGet, "/ui/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `<script type="module" src="js/app.js"></script>`) {
		t.Errorf("index.html does not load js/app.js:\n%s", body)
	}
	if body != content(t, "index.html") {
		t.Error("/ui/ is not index.html")
	}
	if rec2 := do(t, http.MethodGet, "/ui/index.html", nil); rec2.Body.String() != body {
		t.Error("/ui/index.html differs from /ui/")
	}
}

func TestContentTypes(t *testing.T) {
	for target, want := range map[string]string{
		"/ui/index.html":                     "text/html; charset=utf-8",
		"/ui/app.css":                        "text/css; charset=utf-8",
		"/ui/js/app.js":                      "text/javascript; charset=utf-8",
		"/ui/js/pages/cluster.js":            "text/javascript; charset=utf-8",
		"/ui/vendor/uplot/uPlot.iife.min.js": "text/javascript; charset=utf-8",
		"/ui/vendor/uplot/uPlot.min.css":     "text/css; charset=utf-8",
		"/ui/vendor/uplot/LICENSE":           "text/plain; charset=utf-8",
	} {
		rec := do(t, http.MethodGet, target, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", target, rec.Code)
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, want)
		}
		if rec.Body.Len() == 0 {
			t.Errorf("GET %s: empty body", target)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	etag := do(t, http.MethodGet, "/ui/app.css", nil).Header().Get("ETag")
	cases := []struct {
		method, target string
		header         map[string]string
		code           int
	}{
		{http.MethodGet, "/ui/", nil, 200},
		{http.MethodGet, "/ui/js/app.js", nil, 200},
		{http.MethodHead, "/ui/app.css", nil, 200},
		{http.MethodGet, "/ui/app.css", map[string]string{"If-None-Match": etag}, 304},
		{http.MethodGet, "/ui/nope.js", nil, 404},
		{http.MethodPost, "/ui/", nil, 405},
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	}
	for _, c := range cases {
		rec := do(t, c.method, c.target, c.header)
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.target, rec.Code, c.code)
		}
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s %s: %s %q, want %q", c.method, c.target, k, got, v)
			}
		}
	}
}

func TestCacheAndETag(t *testing.T) {
	rec := do(t, http.MethodGet, "/ui/js/app.js", nil)
	etag := rec.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag %q", etag)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	sum := sha256.Sum256([]byte(content(t, "js/app.js")))
	if etag != `"`+hex.EncodeToString(sum[:16])+`"` {
		t.Errorf("ETag %q is not the content's hash", etag)
	}
	if other := do(t, http.MethodGet, "/ui/app.css", nil).Header().Get("ETag"); other == etag {
		t.Error("two assets have one ETag")
	}
	for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, "*"} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			r := do(t, m, "/ui/js/app.js", map[string]string{"If-None-Match": inm})
			if r.Code != http.StatusNotModified {
				t.Errorf("%s If-None-Match %s: %d, want 304", m, inm, r.Code)
			}
			if r.Body.Len() != 0 {
				t.Errorf("%s If-None-Match %s: a body on 304", m, inm)
			}
			if r.Header().Get("ETag") != etag {
				t.Errorf("%s If-None-Match %s: 304 without the ETag", m, inm)
			}
		}
	}
	if r := do(t, http.MethodGet, "/ui/js/app.js", map[string]string{"If-None-Match": `"0123"`}); r.Code != http.StatusOK || r.Body.Len() == 0 {
		t.Errorf("a stale ETag: %d with %d bytes, want 200 with the file", r.Code, r.Body.Len())
	}
}

func TestHead(t *testing.T) {
	rec := do(t, http.MethodHead, "/ui/", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /ui/: %d with %d bytes", rec.Code, rec.Body.Len())
	}
	if rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("ETag") == "" {
		t.Errorf("HEAD /ui/: headers %v", rec.Header())
	}
}

func TestNotFound(t *testing.T) {
	for _, target := range []string{
		"/ui/nope.js", "/ui/js/", "/ui/js", "/ui/vendor/uplot/", "/ui/../ui.go", "/ui/static/index.html",
		"/ui//index.html", "/ui/./index.html", "/ui/js/../index.html", "/index.html", "/ui", "/",
	} {
		rec := do(t, http.MethodGet, target, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: 404 with Content-Type %q", target, ct)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: 404 without the CSP", target)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		for _, target := range []string{"/ui/", "/ui/app.css", "/ui/nope"} {
			rec := do(t, m, target, nil)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, target, rec.Code)
			}
			if a := rec.Header().Get("Allow"); a != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, target, a)
			}
			if !strings.Contains(rec.Body.String(), `"error":"method not allowed"`) {
				t.Errorf("%s %s: body %q", m, target, rec.Body)
			}
		}
	}
}

// licence is where a vendored file's own licence text lives: the LICENSE
// file, and the licence comment a minified file starts with.
func licence(name string) bool {
	return strings.HasPrefix(name, "vendor/") && path.Base(name) == "LICENSE"
}

// leadingBanner is a minified file's licence banner: a "/*! ... */"
// comment, the form minifiers keep for licences, at the very start.
var leadingBanner = regexp.MustCompile(`^/\*![^*]*\*+(?:[^/*][^*]*\*+)*/`)

// stripLicence drops a vendored file's leading licence banner (uPlot's
// names the project's home page), and only that.
func stripLicence(name, body string) string {
	if !strings.HasPrefix(name, "vendor/") {
		return body
	}
	return body[len(leadingBanner.FindString(body)):]
}

var (
	// any URL with a scheme: http://, https://, ws://, ftp://, ...
	schemeURL = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://`)
	// a scheme-relative URL, //host/..., where a URL can stand: after a
	// quote, a paren, an equals sign, a comma, white space, or at the start
	schemeRelative = regexp.MustCompile(`(?i)(?:^|[\s"'(=,` + "`" + `])//[a-z0-9\[]`)
)

// TestNoExternalURLs: nothing the page is made of names another place, so
// it cannot load or send anything elsewhere (the CSP would refuse it too).
func TestNoExternalURLs(t *testing.T) {
	n := 0
	for _, name := range sortedFiles() {
		if licence(name) || path.Ext(name) == ".md" {
			// the licence text, and VENDOR.md (never loaded by the page)
			continue
		}
		n++
		body := stripLicence(name, content(t, name))
		sc := bufio.NewScanner(strings.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			for _, re := range []*regexp.Regexp{schemeURL, schemeRelative} {
				if loc := re.FindStringIndex(text); loc != nil {
					from, to := max(0, loc[0]-40), min(len(text), loc[1]+40)
					t.Errorf("%s:%d: a URL: %q", name, line, text[from:to])
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(name, err)
		}
	}
	if n < 10 {
		t.Fatalf("scanned %d files only", n)
	}
}

// TestNoInlineScriptOrStyle: the CSP allows no inline script, style
// element, style attribute or event handler attribute.
func TestNoInlineScriptOrStyle(t *testing.T) {
	index := content(t, "index.html")
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`).FindAllStringSubmatch(index, -1)
	if len(scripts) == 0 {
		t.Fatal("index.html has no script")
	}
	for _, s := range scripts {
		if !regexp.MustCompile(`\bsrc="[^"]+"`).MatchString(s[1]) {
			t.Errorf("a script without src: %q", s[0])
		}
		if strings.TrimSpace(s[2]) != "" {
			t.Errorf("an inline script body: %q", s[0])
		}
	}
	if n := strings.Count(strings.ToLower(index), "<script"); n != len(scripts) {
		t.Errorf("%d <script tags, %d well-formed", n, len(scripts))
	}
	forbidden := map[string]*regexp.Regexp{
		"a style element":          regexp.MustCompile(`(?i)<style\b`),
		"a style attribute":        regexp.MustCompile(`(?i)\sstyle\s*=`),
		"an event handler":         regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`),
		"a javascript: URL":        regexp.MustCompile(`(?i)javascript:`),
		"eval":                     regexp.MustCompile(`\beval\s*\(|new\s+Function\s*\(`),
		"a setAttribute of style":  regexp.MustCompile(`setAttribute\(\s*['"]style['"]`),
		"a document.write":         regexp.MustCompile(`document\.write`),
		"a stylesheet from markup": regexp.MustCompile(`(?i)<link\b[^>]*rel="?stylesheet"?[^>]*href="?(?:[a-z]+:|//)`),
	}
	for _, name := range sortedFiles() {
		ext := path.Ext(name)
		if strings.HasPrefix(name, "vendor/") || (ext != ".html" && ext != ".js") {
			continue
		}
		body := content(t, name)
		for what, re := range forbidden {
			if loc := re.FindStringIndex(body); loc != nil {
				t.Errorf("%s: %s: %q", name, what, body[loc[0]:min(len(body), loc[1]+30)])
			}
		}
	}
}

// TestReferencesResolve: every file index.html names and every module an
// ES module imports is embedded, so the page has no broken link to hide.
func TestReferencesResolve(t *testing.T) {
	index := content(t, "index.html")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(index, -1) {
		if assets()[m[1]] == nil {
			t.Errorf("index.html names %s, which is not embedded", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?\bfrom\s+'([^']+)'|import\(\s*'([^']+)'\s*\)`)
	modules := 0
	for _, name := range sortedFiles() {
		if path.Ext(name) != ".js" || strings.HasPrefix(name, "vendor/") {
			continue
		}
		modules++
		for _, m := range imports.FindAllStringSubmatch(content(t, name), -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded modules", name, spec)
				continue
			}
			target := path.Join(path.Dir(name), spec)
			if assets()[target] == nil {
				t.Errorf("%s imports %s (%s), which is not embedded", name, spec, target)
			}
		}
	}
	if modules < 8 {
		t.Errorf("%d modules", modules)
	}
	// the chart module loads uPlot's script by its path below /ui/
	if !strings.Contains(content(t, "js/chart.js"), "'vendor/uplot/uPlot.iife.min.js'") {
		t.Error("js/chart.js does not load vendor/uplot/uPlot.iife.min.js")
	}
}

// TestVendorChecksums: VENDOR.md gives the sha256 of each vendored file.
func TestVendorChecksums(t *testing.T) {
	doc := content(t, "vendor/uplot/VENDOR.md")
	line := regexp.MustCompile("(?m)`?([0-9a-f]{64})`?\\s+`?([A-Za-z0-9._-]+)`?")
	sums := map[string]string{}
	for _, m := range line.FindAllStringSubmatch(doc, -1) {
		sums[m[2]] = m[1]
	}
	files, err := fs.ReadDir(static, "static/vendor/uplot")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name() == "VENDOR.md" {
			continue
		}
		want, ok := sums[f.Name()]
		if !ok {
			t.Errorf("VENDOR.md gives no sha256 for %s", f.Name())
			continue
		}
		sum := sha256.Sum256([]byte(content(t, "vendor/uplot/"+f.Name())))
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, VENDOR.md says %s", f.Name(), got, want)
		}
	}
}

// TestTestIDs: the hooks browser tests rely on are in the page's code.
func TestTestIDs(t *testing.T) {
	var all strings.Builder
	for _, name := range sortedFiles() {
		if !strings.HasPrefix(name, "vendor/") && (path.Ext(name) == ".js" || path.Ext(name) == ".html") {
			all.WriteString(content(t, name))
		}
	}
	code := all.String()
	for _, id := range []string{
		"cluster-summary", "node-tile", "probe-row", "chart", "threshold", "timeline-item", "history-row",
		"silence-row", "signin-form", "signin-error", "live-status", "last-update",
	} {
		if !strings.Contains(code, `data-testid="`+id+`"`) {
			t.Errorf("no data-testid=%q", id)
		}
	}
}
