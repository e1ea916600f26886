package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func probe(t *testing.T, ctx context.Context, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(ctx, args, &out, &out)
	return code, out.String()
}

func TestExit(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"exit", "0"}, 0}, {[]string{"exit", "7"}, 7}, {[]string{"exit", "x"}, 2}, {[]string{"nope"}, 2}, {nil, 2}} {
		if code, out := probe(t, ctx, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, out)
		}
	}
}

func TestServeAndGet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { // stopped by cancel
		var out bytes.Buffer
		done <- run(ctx, []string{"serve", "--listen", addr}, &out, &out)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := probe(t, context.Background(), "tcp", addr); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not accept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out := probe(t, context.Background(), "get", "http://"+addr+"/")
	if code != 0 || !strings.Contains(out, "200 OK") || !strings.Contains(out, "ok") {
		t.Errorf("get: %d %q", code, out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after SIGTERM-like cancel", code)
	}
}

func TestGetNon2xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusBadGateway)
	}))
	defer srv.Close()
	code, out := probe(t, context.Background(), "get", srv.URL)
	if code != 1 || !strings.Contains(out, "502") || !strings.Contains(out, "broken") {
		t.Errorf("get: %d %q", code, out)
	}
}

func TestTCPRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if code, out := probe(t, context.Background(), "tcp", addr); code != 1 || !strings.Contains(out, "refused") {
		t.Errorf("tcp: %d %q", code, out)
	}
}

func TestDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR(r.Question[0].Name + " 60 IN A 10.1.2.3")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }() // stopped by Shutdown below
	defer func() { _ = srv.Shutdown() }()
	code, out := probe(t, context.Background(), "dns", "svc.test", "--server", pc.LocalAddr().String())
	if code != 0 || !strings.Contains(out, "Address: 10.1.2.3") {
		t.Errorf("dns: %d %q", code, out)
	}
	code, out = probe(t, context.Background(), "dns", "--server", pc.LocalAddr().String(), "svc.test")
	if code != 0 || !strings.Contains(out, "Address: 10.1.2.3") {
		t.Errorf("dns with the flag first: %d %q", code, out)
	}
}

func TestSleepCanceled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if code, _ := probe(t, ctx, "sleep", "1h"); code != 1 {
		t.Errorf("canceled sleep exited %d, want 1", code)
	}
	if code, _ := probe(t, context.Background(), "sleep", "1ms"); code != 0 {
		t.Errorf("sleep exited %d", code)
	}
}

func TestAllocAndWrite(t *testing.T) {
	if code, out := probe(t, context.Background(), "alloc", "8MiB"); code != 0 || !strings.Contains(out, "8388608") {
		t.Errorf("alloc: %d %q", code, out)
	}
	if code, _ := probe(t, context.Background(), "alloc", "lots"); code != 1 {
		t.Errorf("alloc of a bad size exited %d", code)
	}
	if code, out := probe(t, context.Background(), "write", filepath.Join(t.TempDir(), "f")); code != 0 {
		t.Errorf("write: %d %q", code, out)
	}
}
