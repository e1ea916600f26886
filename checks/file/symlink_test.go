package filecheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// A link planted in a folder others can write (here: to a 0600 file the
// check's user can read, standing in for /etc/shadow) is read through by
// default, and refused with follow_symlinks = false, in the last component
// and in any folder on the way. The file's size, mode, age and contents do
// not reach the result then.
func TestFollowSymlinksFalse(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$secret:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	public := t.TempDir()
	link := filepath.Join(public, "report.txt")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(public, "dir")
	if err := os.Symlink(secretDir, dirLink); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(public, "plain.txt")
	if err := os.WriteFile(plain, []byte("status: ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(body string) checks.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return build(t, body).Check(ctx)
	}

	// By default the link is followed: the secret's contents are matched.
	if res := run(`path = "` + link + `"` + "\n" + `contains = "root:"`); res.Verdict() != checks.StatusPassing {
		t.Fatalf("default: %s %q", res.Verdict(), res.Error)
	}
	for _, p := range []string{link, filepath.Join(dirLink, "shadow")} {
		res := run(`path = "` + p + `"` + "\ncontains = \"root:\"\nfollow_symlinks = false")
		if res.Verdict() != checks.StatusCritical || !strings.Contains(res.Error, "has a symbolic link in it, which follow_symlinks = false does not follow") {
			t.Fatalf("%s: %s %q", p, res.Verdict(), res.Error)
		}
		if len(res.Metrics) != 0 || res.Attrs["mode"].IsKnown() && !res.Attrs["mode"].IsNull() {
			t.Fatalf("%s: the linked file's metrics or mode leaked: %v %v", p, res.Metrics, res.Attrs)
		}
	}
	// A plain file is checked as before.
	res := run(`path = "` + plain + `"` + "\ncontains = \"status: ok\"\nfollow_symlinks = false")
	if res.Verdict() != checks.StatusPassing || res.Metrics[MetricSizeBytes] != 11 {
		t.Fatalf("plain file: %s %q %v", res.Verdict(), res.Error, res.Metrics)
	}
	wantAttrs(t, res, res.Attrs["exists"], "0644")
	// Absent is still absent.
	res = run(`path = "` + filepath.Join(public, "none") + `"` + "\nexists = false\nfollow_symlinks = false")
	if res.Verdict() != checks.StatusPassing {
		t.Fatalf("absent: %s %q", res.Verdict(), res.Error)
	}
}
