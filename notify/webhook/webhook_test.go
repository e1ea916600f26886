package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/notifytest"
	"github.com/satellite-hq/satellite/notify/webhook"
)

func message() *notify.Message {
	return &notify.Message{Version: notify.PayloadVersion, ID: "id1", Notifier: "webhook.ops", Sender: "node-a",
		Time: time.Now().UTC(), Title: "t", Alerts: []notify.Alert{{Key: "node-a/tcp.etcd", State: notify.StateProblem}}}
}

func TestSignedPost(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	recv.Secret = []byte("k")
	w := webhook.New(recv.URL, map[string]string{"Authorization": "Bearer x"}, []byte("k"), time.Second)
	rc, err := w.Send(context.Background(), message())
	if err != nil || rc.Status != http.StatusNoContent {
		t.Fatalf("Send: %+v, %v", rc, err)
	}
	if bad := recv.Problems(); len(bad) > 0 {
		t.Fatal(bad)
	}
	h := recv.Headers()[0]
	if h.Get("Authorization") != "Bearer x" || !strings.HasPrefix(h.Get(webhook.SignatureHeader), "sha256=") || h.Get(webhook.MessageIDHeader) != "id1" {
		t.Errorf("headers: %v", h)
	}
	// Signed with another secret, the receiver refuses it: a rejection.
	bad := webhook.New(recv.URL, nil, []byte("other"), time.Second)
	if _, err := bad.Send(context.Background(), message()); !notify.IsRejected(err) {
		t.Errorf("a 401 should be a rejection, got %v", err)
	}
}

func TestStatusesAndSecrets(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	w := webhook.New(recv.URL+"/T0KEN/hook", nil, nil, time.Second)
	for _, c := range []struct {
		status   int
		rejected bool
	}{{404, true}, {422, true}, {429, false}, {408, false}, {500, false}, {503, false}} {
		recv.SetStatus(c.status)
		_, err := w.Send(context.Background(), message())
		if err == nil || notify.IsRejected(err) != c.rejected {
			t.Errorf("HTTP %d: error %v, rejected %v; want rejected %v", c.status, err, notify.IsRejected(err), c.rejected)
		}
	}
	// A connection refused names neither the path nor its token.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gone := webhook.New("http://"+addr+"/T0KEN/hook", nil, []byte("s3cret"), time.Second)
	_, err = gone.Send(context.Background(), message())
	if err == nil || notify.IsRejected(err) || strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("refused: %v", err)
	}
	for _, s := range []string{gone.String(), fmt.Sprintf("%#v", gone), fmt.Sprintf("%v", gone)} {
		if strings.Contains(s, "T0KEN") || strings.Contains(s, "s3cret") {
			t.Errorf("a secret in %q", s)
		}
	}
}
