// Package browsertest drives a headless Debian Chromium through the
// DevTools protocol (github.com/chromedp/chromedp) for the dashboard's
// tests: a new profile per browser, the network flags that keep Chromium
// from calling home, every request the page makes recorded (so a test can
// assert that none leaves loopback), and screenshots kept as artefacts.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// Variables of the browser tests.
const (
	// ChromiumBin is the browser scripts/services/chromium.sh found.
	ChromiumBin = "SATELLITE_TEST_CHROMIUM"
	// ArtifactDir is where screenshots are kept (default: a folder under
	// the system's temporary directory, named in the test's log).
	ArtifactDir = "SATELLITE_TEST_ARTIFACTS"
	// UpdateDocs, set to the repository's docs/images folder, makes the
	// screenshots named for the docs be written there too (make
	// screenshots).
	UpdateDocs = "SATELLITE_UPDATE_SCREENSHOTS"
)

// Width and Height are the window's size: a laptop's screen.
const (
	Width  = 1280
	Height = 800
)

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string
	console  []string
}

// New starts Chromium for t and closes it when t ends. Without the
// browser it fails under make test and skips otherwise.
func New(t testing.TB) *Browser {
	t.Helper()
	bin := os.Getenv(ChromiumBin)
	if bin == "" {
		for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		testenv.Unavailable(t, "Chromium is not installed ($"+ChromiumBin+" is empty and /usr/bin/chromium is missing)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(Width, Height),
		chromedp.NoSandbox, // as root, Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		// This machine's network is closed: without these Chromium tries
		// Google's hosts at every start, and the tests must see only the
		// page's own requests.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions"),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{ctx: ctx}
	// The first call starts the browser, bound to ctx (no timeout: the
	// test's steps have their own).
	if err := chromedp.Listen(ctx, b.record); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium (%s): %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// record keeps the requests the page sends and the exceptions it throws;
// it runs on chromedp's event goroutine.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
	case *runtime.EventExceptionThrown:
		b.console = append(b.console, exceptionText(e.ExceptionDetails))
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += ": " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", text, d.URL, d.LineNumber+1)
}

// Context is the tab's context, for chromedp.Run; bound it with a
// timeout per step.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs steps in the tab, in order, within d.
func (b *Browser) Do(t testing.TB, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("in the browser: %v%s", err, b.exceptions())
	}
}

// Eval returns a JavaScript expression's value (a promise is awaited).
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	v, err := b.try(10*time.Second, expr)
	if err != nil {
		t.Fatalf("in the browser: %s: %v%s", expr, err, b.exceptions())
	}
	var out T
	if err := json.Unmarshal(v, &out); err != nil {
		t.Fatalf("in the browser: %s gave %s: %v", expr, v, err)
	}
	return out
}

// try evaluates expr within d and returns its value as JSON.
func (b *Browser) try(d time.Duration, expr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
}

func (b *Browser) exceptions() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) == 0 {
		return ""
	}
	return "\nthe page's exceptions:\n  " + strings.Join(b.console, "\n  ")
}

// Exceptions are the JavaScript exceptions the page threw.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Requests are the URLs the tab requested so far, in order.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// OffLoopback lists the requests that went anywhere but a loopback
// address (data: and about: URLs are no requests of the network).
func (b *Browser) OffLoopback() []string {
	var out []string
	for _, raw := range b.Requests() {
		u, err := url.Parse(raw)
		if err != nil {
			out = append(out, raw)
			continue
		}
		switch u.Scheme {
		case "data", "about", "blob":
			continue
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			continue
		}
		out = append(out, raw)
	}
	return out
}

// Screenshot saves the whole page as NAME.png among the test's artefacts
// and, with $SATELLITE_UPDATE_SCREENSHOTS set, as dashboard-NAME.png in
// that folder (docs/images). It returns the artefact's path.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 makes a PNG; less, a JPEG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv(ArtifactDir)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "satellite-test-artifacts")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %s (%d KB)", name, path, len(png)>>10)
	if docs := os.Getenv(UpdateDocs); docs != "" {
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, "dashboard-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// Text is a JavaScript expression's value as a string.
func (b *Browser) Text(t testing.TB, expr string) string {
	t.Helper()
	return Eval[string](t, b, expr)
}

// Eventually polls cond (a JavaScript expression returning "" when it
// holds, else what is wrong) until it holds or d passes; it returns how
// long it took, or fails the test with the last answer.
func (b *Browser) Eventually(t testing.TB, d time.Duration, what, cond string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < d {
		var s string
		if v, err := b.try(5*time.Second, cond); err != nil {
			last = err.Error()
		} else if err := json.Unmarshal(v, &s); err != nil {
			last = fmt.Sprintf("the condition gave %s, not a string", v)
		} else if s == "" {
			return time.Since(start)
		} else {
			last = s
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %s%s", what, d, last, b.exceptions())
	return 0
}
