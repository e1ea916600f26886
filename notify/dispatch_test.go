package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/notifytest"
	"github.com/satellite-hq/satellite/notify/webhook"
)

const hook = "webhook.ops"

// rig is a dispatcher with one webhook notifier posting to a real loopback
// receiver.
type rig struct {
	d    *notify.Dispatcher
	recv *notifytest.Receiver
	t    *testing.T
	// status is each check's state as last published.
	status map[string]health.Status
	stop   func()
}

func newRig(t *testing.T, tune func(*notify.Target)) *rig {
	t.Helper()
	recv := notifytest.NewReceiver(t)
	recv.Secret = []byte("s3cret")
	return startRig(t, recv, t.TempDir(), tune, nil)
}

// startRig runs a dispatcher on data dir dir, posting to recv, until the
// test ends or stop is called.
func startRig(t *testing.T, recv *notifytest.Receiver, dir string, tune func(*notify.Target), hold func(node, check string, now time.Time) (string, bool)) *rig {
	t.Helper()
	tg := notify.Target{Address: hook, Notifier: webhook.New(recv.URL+"/hook?token=t0ken", map[string]string{"X-Team": "ops"}, recv.Secret, 2*time.Second),
		MinSeverity: notify.SeverityCritical, SendOnResolved: true, GroupWait: 50 * time.Millisecond, MaxPerMinute: 100}
	if tune != nil {
		tune(&tg)
	}
	d, err := notify.New(notify.Options{Node: "node-a", Targets: []notify.Target{tg}, DataDir: dir, Hold: hold})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return &rig{d: d, recv: recv, t: t, status: map[string]health.Status{}, stop: stop}
}

// run publishes one run of check with status s to the dispatcher, as the
// scheduler would after hysteresis.
func (r *rig) run(check string, s health.Status, mods ...func(*events.Event)) {
	prev, ok := r.status[check]
	if !ok {
		prev = health.Unknown
	}
	e := &events.Event{Kind: events.CheckRun, Time: time.Now(), Node: "node-a",
		Check:  events.Check{Address: check, Type: strings.SplitN(check, ".", 2)[0], Notify: []string{hook}, Labels: map[string]string{"team": "ops"}},
		Status: s, Previous: prev, RunStatus: s, Changed: s != prev}
	if s != health.Passing {
		e.Error = "connection refused"
	}
	for _, m := range mods {
		m(e)
	}
	r.status[check] = s
	r.d.Handle(context.Background(), e)
}

// quiet asserts that the receiver takes nothing more than n messages for d.
func (r *rig) quiet(n int, d time.Duration) {
	r.t.Helper()
	time.Sleep(d)
	if got := r.recv.Messages(); len(got) != n {
		r.t.Fatalf("the receiver took %d messages, want %d: %+v", len(got), n, got)
	}
}

func states(ms []notify.Message) string {
	var out []string
	for _, m := range ms {
		var as []string
		for _, a := range m.Alerts {
			as = append(as, a.Check+":"+a.State+":"+a.Severity)
		}
		out = append(out, strings.Join(as, ","))
	}
	return strings.Join(out, " | ")
}

func TestProblemThenRecovery(t *testing.T) {
	r := newRig(t, nil)
	r.run("tcp.etcd", health.Passing)
	r.run("tcp.etcd", health.Critical)
	r.run("tcp.etcd", health.Critical) // still critical: nothing new
	r.recv.WaitMessages(t, 1, 5*time.Second)
	r.run("tcp.etcd", health.Passing)
	ms := r.recv.WaitMessages(t, 2, 5*time.Second)
	r.quiet(2, 200*time.Millisecond)
	if got := states(ms); got != "tcp.etcd:problem:critical | tcp.etcd:resolved:critical" {
		t.Fatalf("messages: %s", got)
	}
	p := ms[0]
	if p.Sender != "node-a" || p.Notifier != hook || p.Version != notify.PayloadVersion || p.Title != "tcp.etcd critical on node-a: connection refused" {
		t.Errorf("problem message: %+v", p)
	}
	a := p.Alerts[0]
	if a.Key != "node-a/tcp.etcd" || a.Node != "node-a" || a.Type != "tcp" || a.Labels["team"] != "ops" || a.Error != "connection refused" || a.Since.IsZero() {
		t.Errorf("problem alert: %+v", a)
	}
	if ms[1].Alerts[0].Key != a.Key {
		t.Errorf("the recovery's key %q is not the problem's %q", ms[1].Alerts[0].Key, a.Key)
	}
	if bad := r.recv.Problems(); len(bad) > 0 {
		t.Errorf("requests broke the contract: %v", bad)
	}
	if h := r.recv.Headers()[0]; h.Get("X-Team") != "ops" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", h)
	}
	st := r.d.Stats()[hook]
	if st.Sent != 2 || st.Retried != 0 || st.DeadLettered != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestNoRecoveryForAProblemNotSent(t *testing.T) {
	r := newRig(t, func(tg *notify.Target) { tg.GroupWait = 300 * time.Millisecond })
	r.run("tcp.etcd", health.Passing)
	r.run("tcp.etcd", health.Critical)
	r.run("tcp.etcd", health.Passing) // within group_wait: cancels the problem
	r.quiet(0, time.Second)
	// A warning is below min_severity: neither a problem nor a recovery.
	r.run("tcp.etcd", health.Warning)
	r.run("tcp.etcd", health.Passing)
	r.quiet(0, 500*time.Millisecond)
	if st := r.d.Stats()[hook]; st.Suppressed != 2 || st.Sent != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestWarningsAndSendOnResolved(t *testing.T) {
	r := newRig(t, func(tg *notify.Target) { tg.MinSeverity, tg.SendOnResolved = notify.SeverityWarning, false })
	r.run("disk.root", health.Warning)
	r.recv.WaitMessages(t, 1, 5*time.Second)
	r.run("disk.root", health.Critical) // worse: told again
	r.recv.WaitMessages(t, 2, 5*time.Second)
	r.run("disk.root", health.Passing) // no recovery with send_on_resolved = false
	r.quiet(2, 400*time.Millisecond)
	if got := states(r.recv.Messages()); got != "disk.root:problem:warning | disk.root:problem:critical" {
		t.Fatalf("messages: %s", got)
	}
}

func TestGroupWaitFoldsAlertsIntoOneMessage(t *testing.T) {
	r := newRig(t, func(tg *notify.Target) { tg.GroupWait = 300 * time.Millisecond })
	for i := range 3 {
		r.run(fmt.Sprintf("http.api%d", i), health.Critical)
	}
	ms := r.recv.WaitMessages(t, 1, 5*time.Second)
	r.quiet(1, 500*time.Millisecond)
	if len(ms[0].Alerts) != 3 || ms[0].Title != "3 checks on node-a: 3 critical" {
		t.Fatalf("message: %q with %d alerts", ms[0].Title, len(ms[0].Alerts))
	}
}

func TestFlappingIsOneMessageThenTheFinalState(t *testing.T) {
	r := newRig(t, nil)
	flap := func(e *events.Event) { e.Flapping = true }
	r.run("tcp.etcd", health.Critical)
	r.recv.WaitMessages(t, 1, 5*time.Second)
	for i := range 10 {
		s := health.Passing
		if i%2 == 1 {
			s = health.Critical
		}
		r.run("tcp.etcd", s, flap)
	}
	r.recv.WaitMessages(t, 2, 5*time.Second)
	r.quiet(2, 300*time.Millisecond)
	// It settles passing: its last message was "flapping", so the recovery
	// is sent.
	r.run("tcp.etcd", health.Passing)
	r.recv.WaitMessages(t, 3, 5*time.Second)
	r.quiet(3, 300*time.Millisecond)
	if got := states(r.recv.Messages()); got != "tcp.etcd:problem:critical | tcp.etcd:flapping:critical | tcp.etcd:resolved:critical" {
		t.Fatalf("messages: %s", got)
	}
}

func TestBlockedChecksAreNamedByTheirRootCause(t *testing.T) {
	r := newRig(t, func(tg *notify.Target) { tg.GroupWait = 200 * time.Millisecond })
	dep := func(e *events.Event) { e.Check.DependsOn = []string{"tcp.etcd"}; e.RunStatus = health.Blocked }
	r.run("http.api", health.Blocked, dep)
	r.run("http.scheduler", health.Blocked, dep)
	r.run("tcp.etcd", health.Critical)
	ms := r.recv.WaitMessages(t, 1, 5*time.Second)
	r.quiet(1, 400*time.Millisecond)
	if len(ms[0].Alerts) != 1 {
		t.Fatalf("one broken etcd should be one alert: %s", states(ms))
	}
	if got := strings.Join(ms[0].Alerts[0].Blocking, ","); got != "http.api,http.scheduler" {
		t.Errorf("blocking = %q", got)
	}
}

func TestRateLimitFoldsAStorm(t *testing.T) {
	r := newRig(t, func(tg *notify.Target) { tg.GroupWait, tg.MaxPerMinute = 0, 2 })
	for i := range 60 {
		r.run(fmt.Sprintf("http.api%02d", i), health.Critical)
		time.Sleep(time.Millisecond)
	}
	r.quiet(len(r.recv.Messages()), 500*time.Millisecond)
	ms := r.recv.Messages()
	if len(ms) != 2 {
		t.Fatalf("60 alerts at max_per_minute 2 made %d messages in the first minute, want 2", len(ms))
	}
	told := 0
	for _, m := range ms {
		told += len(m.Alerts) + m.More
	}
	// The first message went out at once; the second is over the rate and
	// waits for its minute, so the other alerts are still held, not lost.
	if told > 60 {
		t.Errorf("told of %d alerts, want at most 60", told)
	}
}

func TestRetriesUntilTheReceiverTakesIt(t *testing.T) {
	r := newRig(t, nil)
	r.recv.SetStatus(http.StatusServiceUnavailable)
	r.run("tcp.etcd", health.Critical)
	deadline := time.Now().Add(5 * time.Second)
	for r.recv.Requests() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.recv.SetStatus(http.StatusOK)
	ms := r.recv.WaitMessages(t, 1, 10*time.Second)
	r.quiet(1, 300*time.Millisecond)
	st := r.d.Stats()[hook]
	if st.Retried < 1 || st.Sent != 1 || ms[0].Alerts[0].State != notify.StateProblem {
		t.Errorf("stats %+v, messages %s", st, states(ms))
	}
}

func TestRejectedIsDeadLettered(t *testing.T) {
	r := newRig(t, nil)
	r.recv.SetStatus(http.StatusBadRequest)
	r.run("tcp.etcd", health.Critical)
	deadline := time.Now().Add(5 * time.Second)
	for r.d.Stats()[hook].DeadLettered == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past the first retry's backoff
	if st := r.d.Stats()[hook]; st.DeadLettered != 1 || st.Retried != 0 || r.recv.Requests() != 1 {
		t.Errorf("a 400 must not be retried: stats %+v, %d requests", st, r.recv.Requests())
	}
}

func TestTestMessage(t *testing.T) {
	r := newRig(t, nil)
	rc, err := r.d.Test(context.Background(), hook)
	if err != nil || rc.Status != http.StatusNoContent {
		t.Fatalf("Test: %+v, %v", rc, err)
	}
	if ms := r.recv.Messages(); len(ms) != 1 || !ms[0].Test {
		t.Fatalf("messages: %+v", ms)
	}
	if _, err := r.d.Test(context.Background(), "webhook.nope"); err == nil {
		t.Error("a test of an unknown notifier succeeded")
	}
}

// The receiver is down when a check fails and the agent stops; after a
// restart on the same data dir the problem is delivered once, a check
// still failing is not told of again, and its recovery comes.
func TestRestartKeepsWhatWasDecided(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	recv.Secret = []byte("s3cret")
	dir := t.TempDir()
	r := startRig(t, recv, dir, nil, nil)
	r.run("tcp.etcd", health.Critical)
	r.run("tcp.delivered", health.Critical)
	r.recv.WaitMessages(t, 1, 5*time.Second)
	recv.SetStatus(http.StatusServiceUnavailable)
	r.run("tcp.other", health.Critical)
	deadline := time.Now().Add(5 * time.Second)
	for recv.Requests() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	if n := len(recv.Messages()); n != 1 {
		t.Fatalf("before the restart the receiver took %d messages, want 1", n)
	}
	recv.SetStatus(http.StatusOK)

	// The new agent's checks start from unknown again, as after a restart.
	r2 := startRig(t, recv, dir, nil, nil)
	r2.recv.WaitMessages(t, 2, 5*time.Second) // tcp.other, from the spool
	r2.run("tcp.etcd", health.Critical)       // still failing: told already
	r2.run("tcp.delivered", health.Passing)   // recovered meanwhile
	r2.recv.WaitMessages(t, 3, 5*time.Second)
	r2.quiet(3, 300*time.Millisecond)
	if got := states(recv.Messages()); got != "tcp.etcd:problem:critical,tcp.delivered:problem:critical | tcp.other:problem:critical | tcp.delivered:resolved:critical" {
		t.Fatalf("messages: %s", got)
	}
}

// A silence or a maintenance window holds a check's alerts: the check
// runs, nothing is told; when the hold ends, what still fails is sent,
// what failed and recovered meanwhile is not, and a problem sent before
// the hold that recovered during it gets its recovery.
func TestHoldsEndWithWhatIsStillTrue(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	recv.Secret = []byte("s3cret")
	var held sync.Map // check -> true
	hold := func(_, check string, _ time.Time) (string, bool) {
		_, ok := held.Load(check)
		return "silence abc", ok
	}
	r := startRig(t, recv, t.TempDir(), nil, hold)
	r.run("tcp.before", health.Critical) // told before its hold
	r.recv.WaitMessages(t, 1, 5*time.Second)
	for _, c := range []string{"tcp.still", "tcp.blip", "tcp.before"} {
		held.Store(c, true)
	}
	r.run("tcp.still", health.Critical) // fails during the hold, still at its end
	r.run("tcp.blip", health.Critical)  // fails and recovers during it
	r.run("tcp.blip", health.Passing)
	r.run("tcp.before", health.Passing) // recovers during it
	r.quiet(1, 500*time.Millisecond)
	held.Clear()
	r.recv.WaitMessages(t, 2, 10*time.Second) // Review runs every 2s
	r.quiet(2, 500*time.Millisecond)
	ms := r.recv.Messages()
	if got := states(ms[1:]); got != "tcp.still:problem:critical,tcp.before:resolved:critical" && got != "tcp.before:resolved:critical,tcp.still:problem:critical" {
		t.Fatalf("after the hold: %s", got)
	}
}
