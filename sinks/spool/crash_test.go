package spool

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "SATELLITE_SPOOL_HELPER_DIR"

// TestHelperProcess is the child of TestKill9: it pushes records as fast as
// it can while another goroutine acknowledges them in batches, and prints
// what it did, until it is killed. Run by hand it does nothing.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		return
	}
	s, err := Open(Options{Dir: dir, SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	// One write per line: lines from the two goroutines never mix.
	say := func(format string, args ...any) { _, _ = os.Stdout.WriteString(fmt.Sprintf(format+"\n", args...)) }
	go func() {
		acked := 0
		for {
			// Keep a backlog, so that the kill finds records to keep.
			if s.Len() < 500 {
				time.Sleep(time.Millisecond)
				continue
			}
			batch, err := s.Peek(97)
			if err != nil {
				say("error %v", err)
				return
			}
			say("ack+ %d", acked+len(batch)) // may be acknowledged from here on
			if err := s.Ack(len(batch)); err != nil {
				say("error %v", err)
				return
			}
			acked += len(batch)
			say("ack= %d", acked)            // acknowledged for sure
			time.Sleep(2 * time.Millisecond) // let a backlog build
		}
	}()
	for i := 0; ; i++ {
		if err := s.Push(rec(i)); err != nil {
			say("error %v", err)
			os.Exit(1)
		}
		say("pushed %d", i)
	}
}

// TestKill9 kills a process that is pushing and acknowledging, with
// SIGKILL, and checks that the spool it leaves holds every record pushed and
// not acknowledged, in order, once each.
func TestKill9(t *testing.T) {
	for round := range 3 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killAt := 3000 + round*4000
			pushed, ackBegun, ackDone := -1, 0, 0
			killed := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 2 {
					continue // the test framework's own output, if any
				}
				n, _ := strconv.Atoi(f[1])
				switch f[0] {
				case "pushed":
					pushed = n
				case "ack+":
					ackBegun = n
				case "ack=":
					ackDone = n
				case "error":
					t.Fatalf("child: %s", sc.Text())
				}
				if pushed >= killAt && !killed {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true // read on: what it wrote before dying counts
				}
			}
			err = cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not by SIGKILL", err)
			}

			s := open(t, Options{Dir: dir, SegmentBytes: 64 << 10})
			var got []int
			for {
				batch, err := s.Peek(500)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				for _, r := range batch {
					i := index(t, r)
					if !sameRecord(r, rec(i)) {
						t.Fatalf("record %d came back different: %+v", i, r)
					}
					got = append(got, i)
				}
				if err := s.Ack(len(batch)); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) == 0 {
				t.Fatalf("nothing left after the kill (pushed %d, acked %d)", pushed+1, ackDone)
			}
			for k := 1; k < len(got); k++ {
				if got[k] != got[k-1]+1 {
					t.Fatalf("record %d after %d: a gap or a duplicate", got[k], got[k-1])
				}
			}
			first, last := got[0], got[len(got)-1]
			// Nothing acknowledged for sure comes back, nothing not yet being
			// acknowledged is missing, and every push that returned is there.
			if first < ackDone || first > ackBegun || last < pushed || last > pushed+1 {
				t.Errorf("left %d..%d; the child had pushed 0..%d and acknowledged %d (%d begun)", first, last, pushed, ackDone, ackBegun)
			}
			t.Logf("killed after %d pushes and %d acks: %d records left, %d..%d", pushed+1, ackDone, len(got), first, last)
		})
	}
}
