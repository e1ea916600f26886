package containercheck

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/satellite-hq/satellite/checks/checktest"
)

// BenchmarkSmokeVsCtr runs one trivial smoke test (`/probe exit 0`, image
// already imported) through the checker and through
// `ctr run --rm` of the same image on the same containerd, alternately, and
// reports both medians and their ratio (checker / ctr).
func BenchmarkSmokeVsCtr(b *testing.B) {
	sock := socket(b)
	c := newChecker(b, probe("exit", "0"))
	checktest.WantPassing(b, runCheck(c, time.Minute)) // imports the archive
	d, err := c.archiveDigest(probeArchive)
	if err != nil {
		b.Fatal(err)
	}
	image := archiveImageName(d)
	var mine, theirs []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		res := runCheck(c, time.Minute)
		mine = append(mine, time.Since(start))
		if res.Error != "" {
			b.Fatal(res.Error)
		}
		start = time.Now()
		i++
		id := fmt.Sprintf("bench-ctr-%d-%d", os.Getpid(), i)
		out, err := exec.Command("ctr", "--address", sock, "-n", testNamespace, "run", "--rm", image, id, "/probe", "exit", "0").CombinedOutput()
		theirs = append(theirs, time.Since(start))
		if err != nil {
			b.Fatalf("ctr run: %v: %s", err, out)
		}
	}
	m, t := median(mine), median(theirs)
	b.ReportMetric(float64(m)/float64(time.Millisecond), "checker-ms")
	b.ReportMetric(float64(t)/float64(time.Millisecond), "ctr-ms")
	b.ReportMetric(float64(m)/float64(t), "ratio")
}

// BenchmarkSoak50 runs the smoke test 50 times in a row per iteration and
// reports the growth of snapshots and mounts over the last 50 runs, and of
// the live heap (after a collection) from the end of the first 50 runs to the
// end of the last (run it with -benchtime 3x or more for that figure).
func BenchmarkSoak50(b *testing.B) {
	c := newChecker(b, probe("exit", "0"))
	checktest.WantPassing(b, runCheck(c, time.Minute))
	cl := client(b)
	count := func() (snaps, mounts int) {
		_ = cl.SnapshotService("").Walk(context.Background(), func(context.Context, snapshots.Info) error {
			snaps++
			return nil
		})
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		return snaps, bytes.Count(mi, []byte("\n"))
	}
	var dSnaps, dMounts int
	var first, last uint64
	for b.Loop() {
		s0, m0 := count()
		for range 50 {
			if res := runCheck(c, time.Minute); res.Error != "" {
				b.Fatal(res.Error)
			}
		}
		s1, m1 := count()
		last = heap()
		if first == 0 {
			first = last
		}
		dSnaps, dMounts = s1-s0, m1-m0
		b.Logf("50 runs: snapshots %+d, mounts %+d, live heap %d KiB", dSnaps, dMounts, last/1024)
	}
	b.ReportMetric(float64(dSnaps), "snapshots-growth")
	b.ReportMetric(float64(dMounts), "mounts-growth")
	b.ReportMetric(float64(int64(last)-int64(first))/1024, "heap-growth-KiB")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
