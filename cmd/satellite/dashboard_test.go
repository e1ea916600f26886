package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/browsertest"
)

// The dashboard in a real headless Chromium, against three real agents in
// a mesh (issue 15): the cluster page, a check's chart and timeline, a
// state change on an open page within a second, a killed node shown failed
// and stale without a reload, and no request off loopback.
func TestDashboardMesh(t *testing.T) {
	// A port the tcp check reaches while the test listens on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() { // owned by ln: ends when it is closed
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	checks := fmt.Sprintf(`
check "file" "root" {
  path     = "/"
  interval = "1s"
}

check "tcp" "svc" {
  address  = %q
  interval = "1s"
  timeout  = "500ms"
  labels   = { team = "core" }
  threshold "latency_ms" {
    warn = 200
    crit = 900
  }
}
`, ln.Addr().String())
	agents := startMeshAgents(t, 7, 3, "dash", meshOpts{checks: checks})
	waitMembers(t, agents, 3, 60*time.Second)
	waitHealthy(t, agents, 60*time.Second)
	a := agents[0]
	b := browsertest.New(t)

	// The cluster page lists the three nodes, healthy.
	b.Do(t, 30*time.Second, chromedp.Navigate(a.base+"/ui/"))
	b.Eventually(t, 20*time.Second, "three healthy tiles", tilesAre(map[string]string{"dash-01": "healthy", "dash-02": "healthy", "dash-03": "healthy"}))
	if s := b.Text(t, `document.querySelector('[data-testid="cluster-summary"]').textContent`); s == "" {
		t.Error("the cluster summary is empty")
	}
	b.Eventually(t, 10*time.Second, "the live stream connected", `(() => { const e = document.querySelector('[data-testid="live-status"]'); return e && e.dataset.state === 'connected' ? '' : 'live: ' + (e ? e.dataset.state : 'missing') })()`)
	b.Screenshot(t, "cluster")

	// A state change on this node shows on the open page within a second
	// of the run that made it (the run's time, from the history).
	b.Do(t, 10*time.Second, chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 1`))
	_ = ln.Close()
	b.Eventually(t, 20*time.Second, "dash-01 degraded on the page", tilesAre(map[string]string{"dash-01": "degraded"}))
	seen := time.Now()
	// The history is written a moment after the run (through its spool).
	var changes []health.Change
	within(t, 10*time.Second, "tcp.svc's critical change in the history", func() string {
		changes = nil
		a.getJSON(t, "/v1/history?node=dash-01&check=tcp.svc&status=critical&limit=1", &changes)
		if len(changes) != 1 {
			return "none yet"
		}
		return ""
	})
	if lag := seen.Sub(changes[0].Time); lag > time.Second {
		t.Errorf("the page showed the change %v after the run that made it, want within 1s", lag.Round(time.Millisecond))
	} else {
		t.Logf("the page showed the change %v after the run that made it", lag.Round(time.Millisecond))
	}

	// The node page lists its probes.
	b.Do(t, 10*time.Second, chromedp.Navigate(a.base+"/ui/#/node/dash-01"))
	b.Eventually(t, 10*time.Second, "the node's probes", `(() => {
	  const rows = [...document.querySelectorAll('[data-testid="probe-row"]')].map(r => r.dataset.check + '=' + r.dataset.status);
	  return rows.includes('tcp.svc=critical') && rows.includes('file.root=passing') ? '' : 'rows: ' + rows.join(', ') })()`)
	b.Screenshot(t, "node")

	// The check's page: its chart from the history with the threshold
	// lines, and a timeline of the changes the history holds.
	b.Do(t, 10*time.Second, chromedp.Navigate(a.base+"/ui/#/check/dash-01/"+url.PathEscape("tcp.svc")))
	b.Eventually(t, 15*time.Second, "the latency chart with its thresholds", `(() => {
	  const c = document.querySelector('[data-testid="chart"][data-metric="latency_ms"]');
	  if (!c) return 'no chart of latency_ms';
	  if (c.dataset.warn !== '200' || c.dataset.crit !== '900') return 'thresholds ' + c.dataset.warn + '/' + c.dataset.crit;
	  return c.querySelector('canvas') ? '' : 'no canvas drawn' })()`)
	var hist []health.Change
	a.getJSON(t, "/v1/history?node=dash-01&check=tcp.svc&since=1h&limit=1000", &hist)
	b.Eventually(t, 10*time.Second, "the timeline has the history's changes", fmt.Sprintf(`(() => {
	  const n = document.querySelectorAll('[data-testid="timeline-item"]').length;
	  return n === %d ? '' : n + ' timeline items, want %d' })()`, len(hist), len(hist)))
	b.Screenshot(t, "check")

	b.Do(t, 10*time.Second, chromedp.Navigate(a.base+"/ui/#/history"))
	b.Eventually(t, 10*time.Second, "the history page", `document.querySelectorAll('[data-testid="history-row"]').length > 0 ? '' : 'no rows'`)
	b.Screenshot(t, "history")

	// One node killed: another node's open page shows it failed and stale
	// within the failure detection time, without a reload.
	b.Do(t, 30*time.Second, chromedp.Navigate(a.base+"/ui/"),
		chromedp.Evaluate[chromedp.Void](`window.__sameDocument = 2`))
	b.Eventually(t, 20*time.Second, "dash-03 there and fresh", `(() => {
	  const e = document.querySelector('[data-testid="node-tile"][data-node="dash-03"]');
	  return e && e.dataset.stale === 'false' ? '' : 'dash-03: ' + (e ? e.textContent : 'no tile') })()`)
	if err := agents[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	took := b.Eventually(t, 60*time.Second, "dash-03 failed and stale", `(() => {
	  const e = document.querySelector('[data-testid="node-tile"][data-node="dash-03"]');
	  if (!e) return 'no tile of dash-03';
	  if (e.dataset.stale !== 'true') return 'dash-03 not stale: ' + e.textContent;
	  return /failed/.test(e.textContent) ? '' : 'dash-03 not failed: ' + e.textContent })()`)
	t.Logf("the page showed dash-03 failed and stale %v after kill -9", took.Round(time.Millisecond))
	if v := b.Text(t, `String(window.__sameDocument)`); v != "2" {
		t.Errorf("the page was reloaded (marker %q)", v)
	}
	b.Screenshot(t, "cluster-failed")

	if off := b.OffLoopback(); len(off) > 0 {
		t.Errorf("the page made requests off loopback: %v", off)
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %v", ex)
	}
	t.Logf("%d requests, all to loopback", len(b.Requests()))
}

// tilesAre is a condition on the cluster page: each named node's tile has
// the status given.
func tilesAre(want map[string]string) string {
	w, _ := json.Marshal(want)
	return fmt.Sprintf(`(() => {
	  const want = %s, got = {};
	  document.querySelectorAll('[data-testid="node-tile"]').forEach(e => got[e.dataset.node] = e.dataset.status);
	  const bad = Object.keys(want).filter(n => got[n] !== want[n]);
	  return bad.length === 0 ? '' : 'tiles ' + JSON.stringify(got) + ', want ' + JSON.stringify(want) })()`, w)
}

// The sign-in form of an agent with tokens: a wrong token is refused, the
// read token sees everything and changes nothing, the full token makes and
// expires a silence; the token lives in the tab's session storage only.
func TestDashboardSignIn(t *testing.T) {
	const full, read = "full-token-0123456789", "read-token-0123456789"
	dir, data := t.TempDir(), t.TempDir()
	fullFile := writeFile(t, dir, "secrets/api.token", full+"\n")
	readFile := writeFile(t, dir, "secrets/api-read.token", read+"\n")
	writeFile(t, dir, "conf/node.hcl", fmt.Sprintf(`agent {
  name     = "signin-a"
  data_dir = %q
}

api {
  token_file      = %q
  read_token_file = %q
}

notifier "webhook" "ops" {
  url = "http://127.0.0.1:9/hook"
}

check "file" "root" {
  path     = "/"
  interval = "1s"
  notify   = [notifier.webhook.ops]
}
`, data, fullFile, readFile))
	p := startProc(t, dir+"/conf")
	b := browsertest.New(t)
	signIn := func(token string) {
		b.Do(t, 20*time.Second,
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-form"] input[type="password"]`)),
			chromedp.SetValue(chromedp.CSS(`[data-testid="signin-form"] input[type="password"]`), token),
			chromedp.Submit(chromedp.CSS(`[data-testid="signin-form"]`)))
	}
	b.Do(t, 30*time.Second, chromedp.Navigate(p.base+"/ui/"))
	signIn("not-the-token")
	b.Eventually(t, 10*time.Second, "wrong token refused", `(() => { const e = document.querySelector('[data-testid="signin-error"]'); return e && e.textContent.trim() !== '' && e.offsetParent !== null ? '' : 'no error shown' })()`)
	b.Screenshot(t, "signin")

	signIn(read)
	b.Eventually(t, 15*time.Second, "the read token sees the node", tilesAre(map[string]string{"signin-a": "healthy"}))
	// Kept in the tab's session storage, nowhere else.
	if got := b.Text(t, `JSON.stringify([Object.values(sessionStorage).includes('`+read+`'), Object.keys(localStorage).length, document.cookie])`); got != `[true,0,""]` {
		t.Errorf("session storage, local storage, cookies: %s", got)
	}
	b.Do(t, 10*time.Second, chromedp.Navigate(p.base+"/ui/#/silences"))
	b.Eventually(t, 10*time.Second, "no way to make a silence with the read token", `(() => {
	  const f = document.querySelector('[data-testid="silence-form"]');
	  if (!f) return '';
	  const btn = f.querySelector('button[type="submit"], button:not([type])');
	  return f.offsetParent === null || (btn && btn.disabled) ? '' : 'the silence form is usable' })()`)
	// And the API refuses what the page would send.
	code := b.Text(t, `(async () => { const r = await fetch('/v1/silences', {method: 'POST', headers: {'Authorization': 'Bearer `+read+`', 'Content-Type': 'application/json'}, body: JSON.stringify({duration: '1h', author: 'test', reason: 'read token', node: 'signin-a'})}); return String(r.status) })()`)
	if code != "403" {
		t.Errorf("a POST with the read token answered %s, want 403", code)
	}

	// Sign out, then in with the full token: make a silence, expire it.
	b.Do(t, 10*time.Second, chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`), chromedp.Navigate(p.base+"/ui/#/silences"), chromedp.Reload())
	signIn(full)
	b.Do(t, 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="silence-form"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-testid="silence-form"] [name="node"]`), "signin-a"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="silence-form"] [name="duration"]`), "2h"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="silence-form"] [name="author"]`), "browser-test"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="silence-form"] [name="reason"]`), "kernel upgrade"),
		chromedp.Submit(chromedp.CSS(`[data-testid="silence-form"]`)))
	b.Eventually(t, 10*time.Second, "the new silence listed", `document.querySelectorAll('[data-testid="silence-row"]').length === 1 ? '' : document.querySelectorAll('[data-testid="silence-row"]').length + ' silences'`)
	var sils []struct {
		ID     string `json:"id"`
		Author string `json:"author"`
	}
	getWithToken(t, p.base+"/v1/silences", full, &sils)
	if len(sils) != 1 || sils[0].Author != "browser-test" {
		t.Fatalf("the agent's silences: %+v", sils)
	}
	b.Screenshot(t, "silences")
	b.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="silence-row"] button`)))
	b.Eventually(t, 10*time.Second, "the silence expired", `document.querySelectorAll('[data-testid="silence-row"]').length === 0 ? '' : 'still listed'`)
	sils = nil
	getWithToken(t, p.base+"/v1/silences", full, &sils)
	if len(sils) != 0 {
		t.Errorf("still active after expiring: %+v", sils)
	}

	for _, u := range b.Requests() {
		if strings.Contains(u, full) || strings.Contains(u, read) {
			t.Errorf("a token in a URL: %s", u)
		}
	}
	if off := b.OffLoopback(); len(off) > 0 {
		t.Errorf("requests off loopback: %v", off)
	}
}

// getWithToken fetches url with the bearer token into v.
func getWithToken(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := meshHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
