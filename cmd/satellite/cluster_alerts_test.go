package main

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify/notifytest"
)

// clusterCounts is how often the receiver got each cluster alert's key and
// state, and which node sent each ("cluster/member/x problem by y").
func clusterCounts(r *notifytest.Receiver) (counts string, senders []string) {
	n := map[string]int{}
	seen := map[string]bool{}
	for _, m := range r.Messages() {
		if seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		for _, a := range m.Alerts {
			if !a.Cluster {
				continue
			}
			n[a.Key+":"+a.State]++
			senders = append(senders, a.Key+" "+a.State+" by "+m.Sender)
		}
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " "), senders
}

// Three real agents, one webhook receiver. A node killed with SIGKILL is
// one "failed" message, from one node; back, one recovery. Then the node
// that sent that message is killed: its own failure is told once, by
// another node, and when it comes back that node resolves it (the log
// gossiped: no second problem). (A check failing on one node is one
// message, from that node: agent's TestNotifyWebhook.)
func TestClusterAlertsAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of real failure detection")
	}
	t.Parallel()
	recv := notifytest.NewReceiver(t)
	checks := fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "%s/hook"
  group_wait = "1s"
}

check "file" "root" {
  path     = "/"
  interval = "1s"
  notify   = [notifier.webhook.ops]
}
`, recv.URL)
	agents := startMeshAgents(t, 6, 3, "ca", meshOpts{checks: checks, meshExtra: "  notify = [notifier.webhook.ops]"})
	waitMembers(t, agents, 3, time.Minute)

	victim := agents[2]
	victim.signal(t, syscall.SIGKILL)
	victim.wait(t)
	key := "cluster/member/" + victim.name
	expect(t, 2*time.Minute, "one failed message about "+victim.name, func() string {
		if got, _ := clusterCounts(recv); got != key+":problem=1" {
			return "got [" + got + "]"
		}
		return ""
	})
	victim.restart(t)
	expect(t, 2*time.Minute, "one recovery of "+victim.name, func() string {
		if got, _ := clusterCounts(recv); got != key+":problem=1 "+key+":resolved=1" {
			return "got [" + got + "]"
		}
		return ""
	})
	_, senders := clusterCounts(recv)
	t.Logf("sent: %v", senders)

	// The node that told of the failure is killed in turn.
	by := senders[0][strings.LastIndex(senders[0], " by ")+4:]
	var sender *meshAgent
	for _, a := range agents {
		if a.name == by {
			sender = a
		}
	}
	if sender == nil {
		t.Fatalf("no agent %q sent %v", by, senders)
	}
	sender.signal(t, syscall.SIGKILL)
	sender.wait(t)
	key2 := "cluster/member/" + sender.name
	want := key + ":problem=1 " + key + ":resolved=1 " + key2 + ":problem=1"
	if key2 < key {
		want = key2 + ":problem=1 " + key + ":problem=1 " + key + ":resolved=1"
	}
	expect(t, 2*time.Minute, "one failed message about "+sender.name, func() string {
		if got, _ := clusterCounts(recv); got != want {
			return "got [" + got + "]"
		}
		return ""
	})
	sender.restart(t)
	want2 := strings.Replace(want, key2+":problem=1", key2+":problem=1 "+key2+":resolved=1", 1)
	expect(t, 2*time.Minute, "one recovery of "+sender.name, func() string {
		if got, _ := clusterCounts(recv); got != want2 {
			return "got [" + got + "]"
		}
		return ""
	})
	time.Sleep(15 * time.Second) // the backups' waits: nothing more comes
	if got, senders := clusterCounts(recv); got != want2 {
		t.Fatalf("the receiver got %s (%v)", got, senders)
	}
	for _, m := range recv.Messages() {
		for _, a := range m.Alerts {
			if !a.Cluster {
				t.Errorf("a check alert nobody caused: %+v", a)
			}
		}
	}
}
