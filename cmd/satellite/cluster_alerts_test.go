package main

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify"
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

// Five real agents, one webhook receiver. A node killed with SIGKILL is
// one "failed" message, from one node. While that alert is open, the node
// that sent it is killed too: its failure is told once, by another node.
// The first node comes back: its recovery comes from a node still up (the
// log was gossiped), and no second problem. The sender comes back: one
// recovery. A check failing on one node only is one message, from that
// node.
func TestClusterAlertsAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes of real failure detection")
	}
	t.Parallel()
	recv := notifytest.NewReceiver(t)
	flags := t.TempDir()
	checks := fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "%s/hook"
  group_wait = "1s"
}

check "file" "flag" {
  path     = "%s/${node.name}"
  interval = "1s"
  notify   = [notifier.webhook.ops]
}
`, recv.URL, flags)
	// Every node's flag is there but ca-02's: its check fails, on it alone.
	for _, n := range []string{"ca-01", "ca-03", "ca-04", "ca-05"} {
		writeFile(t, flags, n, "")
	}
	agents := startMeshAgents(t, 6, 5, "ca", meshOpts{checks: checks, meshExtra: "  notify = [notifier.webhook.ops]"})
	waitMembers(t, agents, 5, time.Minute)
	expect(t, time.Minute, "ca-02's failing check told, by ca-02", func() string {
		for _, m := range recv.Messages() {
			for _, a := range m.Alerts {
				if a.Check == "file.flag" && a.Node == "ca-02" && m.Sender == "ca-02" {
					return ""
				}
			}
		}
		return "not yet"
	})
	time.Sleep(notify.DefaultClusterStartGrace) // past every node's start grace

	victim := agents[4]
	victim.signal(t, syscall.SIGKILL)
	victim.wait(t)
	key := "cluster/member/" + victim.name
	expect(t, 2*time.Minute, "one failed message about "+victim.name, func() string {
		if got, _ := clusterCounts(recv); got != key+":problem=1" {
			return "got [" + got + "]"
		}
		return ""
	})
	_, senders := clusterCounts(recv)
	by := senders[0][strings.LastIndex(senders[0], " by ")+4:]
	var owner *meshAgent
	for _, a := range agents {
		if a.name == by {
			owner = a
		}
	}
	if owner == nil || owner == victim {
		t.Fatalf("sent by %q: %v", by, senders)
	}
	// The owner of the open alert is killed.
	owner.signal(t, syscall.SIGKILL)
	owner.wait(t)
	key2 := "cluster/member/" + owner.name
	want := map[string]int{key + ":problem": 1, key2 + ":problem": 1}
	expect(t, 2*time.Minute, "one failed message about "+owner.name, func() string { return countsAre(recv, want) })
	victim.restart(t)
	want[key+":resolved"] = 1
	expect(t, 2*time.Minute, "the victim's recovery, from another owner", func() string { return countsAre(recv, want) })
	owner.restart(t)
	want[key2+":resolved"] = 1
	expect(t, 2*time.Minute, "the owner's recovery", func() string { return countsAre(recv, want) })
	time.Sleep(25 * time.Second) // the backups' waits: nothing more comes
	if why := countsAre(recv, want); why != "" {
		t.Fatal(why)
	}
	_, senders = clusterCounts(recv)
	t.Logf("sent: %v", senders)
	for _, s := range senders {
		if strings.HasPrefix(s, key+" resolved by "+owner.name) {
			t.Errorf("the killed owner resolved the alert: %s", s)
		}
	}
	checkAlerts := 0
	for _, m := range recv.Messages() {
		for _, a := range m.Alerts {
			if a.Cluster {
				continue
			}
			checkAlerts++
			if a.Check != "file.flag" || a.Node != "ca-02" || m.Sender != "ca-02" || a.State != "problem" {
				t.Errorf("a check alert: %+v from %s", a, m.Sender)
			}
		}
	}
	if checkAlerts != 1 {
		t.Errorf("ca-02's failing check was told %d times, want once", checkAlerts)
	}
}

// countsAre is "" when the receiver got exactly these cluster alerts, by
// key:state, each that many times.
func countsAre(r *notifytest.Receiver, want map[string]int) string {
	got := map[string]int{}
	for _, m := range r.Messages() {
		for _, a := range m.Alerts {
			if a.Cluster {
				got[a.Key+":"+a.State]++
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			c, _ := clusterCounts(r)
			return "got [" + c + "]"
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			c, _ := clusterCounts(r)
			return "got [" + c + "]"
		}
	}
	return ""
}
